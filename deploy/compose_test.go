package deploy_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/faultline/faultline/pipeline"
)

const composeDir = "compose"

// composeEnv stands in for the operator's shell: the passwords compose.yaml requires.
var composeEnv = []string{"FAULTLINE_CLICKHOUSE_PASSWORD=writer-test", "FAULTLINE_CLICKHOUSE_RO_PASSWORD=reader-test"}

func loadCompose(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	abs, err := filepath.Abs(composeDir)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(abs, "compose.yaml")},
		cli.WithWorkingDirectory(abs), cli.WithEnv(env), cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return opts.LoadProject(ctx)
}

// TestComposeNeedsPasswords: without the passwords in the environment compose refuses to
// start, naming the variable, instead of running ClickHouse with an empty one.
func TestComposeNeedsPasswords(t *testing.T) {
	_, err := loadCompose(t, nil)
	if err == nil || !strings.Contains(err.Error(), "FAULTLINE_CLICKHOUSE_PASSWORD") {
		t.Fatalf("compose.yaml without FAULTLINE_CLICKHOUSE_PASSWORD: err = %v, want one naming it", err)
	}
}

// TestCompose loads deploy/compose/compose.yaml as `docker compose` does (compose-go) and checks
// it against the code and the files it mounts.
func TestCompose(t *testing.T) {
	p, err := loadCompose(t, composeEnv)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	svc := func(name string) types.ServiceConfig {
		t.Helper()
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("compose.yaml has no service %q", name)
		}
		return s
	}
	for _, name := range []string{"kafka", "clickhouse", "migrate", "ingest", "loadgen", "prometheus", "alertmanager", "grafana"} {
		svc(name)
	}

	// Every bind-mounted file or folder exists; every published port binds loopback.
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", name, v.Source, err)
			}
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %s on %q: publish on 127.0.0.1 only", name, port.Published, port.HostIP)
			}
		}
	}

	// The faultline services: known variables, values config accepts, and the addresses they
	// name are services of this file on the ports those services listen on.
	advertised := svc("kafka").Environment["KAFKA_ADVERTISED_LISTENERS"]
	if advertised == nil {
		t.Fatal("kafka: no KAFKA_ADVERTISED_LISTENERS")
	}
	for _, name := range []string{"migrate", "ingest", "loadgen"} {
		s := svc(name)
		env := map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		checkEnv(t, "compose service "+name, sortedKeys(env))
		if s.ReadOnly != true || s.User == "" || s.User == "root" || strings.HasPrefix(s.User, "0") {
			t.Errorf("service %s: read_only %v, user %q: want a read-only root and a nonroot user", name, s.ReadOnly, s.User)
		}
		cfg := loadWithEnv(t, "compose service "+name, "", env)
		for _, b := range cfg.Kafka.Brokers {
			host, _, _ := net.SplitHostPort(b)
			if _, ok := p.Services[host]; !ok || !strings.Contains(*advertised, "://"+b) {
				t.Errorf("service %s: kafka.brokers %s is not the kafka service's advertised listener (%s)", name, b, *advertised)
			}
		}
		if name == "loadgen" {
			continue
		}
		for _, a := range cfg.ClickHouse.Addr {
			host, port, _ := net.SplitHostPort(a)
			if host != "clickhouse" || port != "9000" {
				t.Errorf("service %s: clickhouse.addr %s, want clickhouse:9000 (the native port of the clickhouse service)", name, a)
			}
		}
	}

	ingest := svc("ingest")
	if ingest.Deploy == nil || ingest.Deploy.Replicas == nil || *ingest.Deploy.Replicas != 2 {
		t.Errorf("ingest: want deploy.replicas 2 (two members of one group)")
	}
	ienv := map[string]string{}
	for k, v := range ingest.Environment {
		ienv[k] = *v
	}
	icfg := loadWithEnv(t, "compose service ingest", "", ienv)
	if icfg.Ingest.MigrateOnStart {
		t.Error("ingest: migrate_on_start should be off: the migrate service applies the schema once")
	}
	grace := icfg.Ingest.ShutdownTimeout + pipeline.LeaveGrace
	stopGrace := 10 * time.Second // compose's default
	if ingest.StopGracePeriod != nil {
		stopGrace = time.Duration(*ingest.StopGracePeriod)
	}
	if stopGrace <= grace {
		t.Errorf("ingest: stop_grace_period %s must exceed ingest.shutdown_timeout + leave grace (%s)", stopGrace, grace)
	}
	_, metricsPort, err := net.SplitHostPort(icfg.Metrics.Listen)
	if err != nil || !strings.HasPrefix(icfg.Metrics.Listen, "0.0.0.0:") {
		t.Fatalf("ingest: metrics.listen %q: want 0.0.0.0:PORT inside the container so Prometheus can scrape it", icfg.Metrics.Listen)
	}
	if !slices.Contains([]string(ingest.Expose), metricsPort) {
		t.Errorf("ingest: expose %v lacks the metrics port %s", ingest.Expose, metricsPort)
	}
	// The topic has at least as many partitions as there are ingesters (more would sit idle),
	// and it is the topic they consume.
	initCmd := []string(svc("kafka-init").Command)
	pi, ti := slices.Index(initCmd, "--partitions"), slices.Index(initCmd, "--topic")
	if pi < 0 || ti < 0 || pi+1 >= len(initCmd) || ti+1 >= len(initCmd) {
		t.Fatalf("kafka-init: command %v does not create a topic with --topic and --partitions", initCmd)
	}
	replicas := 1
	if ingest.Deploy != nil && ingest.Deploy.Replicas != nil {
		replicas = *ingest.Deploy.Replicas
	}
	if parts, err := strconv.Atoi(initCmd[pi+1]); err != nil || parts < replicas {
		t.Errorf("kafka-init: %s partitions for %d ingesters", initCmd[pi+1], replicas)
	}
	if !slices.Equal(icfg.Kafka.Topics, []string{initCmd[ti+1]}) {
		t.Errorf("ingest consumes %v, kafka-init creates %s", icfg.Kafka.Topics, initCmd[ti+1])
	}
	if s := svc("migrate"); !slices.Equal([]string(s.Command), []string{"ingest", "migrate"}) {
		t.Errorf("migrate: command %v, want [ingest migrate]", s.Command)
	}
	if dep, ok := ingest.DependsOn["migrate"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("ingest must wait for migrate to complete")
	}
	if cmd := strings.Join(svc("loadgen").Command, " "); !regexp.MustCompile(`--spike [a-z_]+:\d+x:`).MatchString(cmd) {
		t.Errorf("loadgen: command %q has no --spike", cmd)
	}

	checkComposePrometheus(t, p, metricsPort)
	checkComposeGrafana(t, p)
	checkComposeClickHouse(t, p)

	if _, err := exec.LookPath("docker-compose"); err == nil {
		c := exec.Command("docker-compose", "-f", filepath.Join(composeDir, "compose.yaml"), "config", "-q")
		c.Env = append(os.Environ(), composeEnv...)
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("docker-compose config -q: %v\n%s", err, out)
		}
	}
}

// checkComposePrometheus: the scrape job finds the ingest replicas on their metrics port, the
// rules folder mounted is the generated one and matches rule_files, alerts go to alertmanager.
func checkComposePrometheus(t *testing.T, p *types.Project, metricsPort string) {
	t.Helper()
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(composeDir, "prometheus", "prometheus.yml"), &prom)
	found := false
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			if slices.Contains(d.Names, "ingest") {
				found = true
				if strconv.Itoa(d.Port) != metricsPort {
					t.Errorf("prometheus job %s scrapes ingest on port %d, the ingesters listen on %s", sc.JobName, d.Port, metricsPort)
				}
			}
		}
	}
	if !found {
		t.Error("prometheus.yml has no dns_sd_configs job for the ingest service")
	}
	mounts := mountTargets(p.Services["prometheus"])
	rulesDir, ok := mounts["/etc/prometheus/rules"]
	if !ok {
		t.Fatal("prometheus: /etc/prometheus/rules is not mounted")
	}
	if want, _ := filepath.Abs(filepath.Join("prometheus", "rules")); rulesDir != want {
		t.Errorf("prometheus mounts %s as its rules, want the generated %s", rulesDir, want)
	}
	for _, rf := range prom.RuleFiles {
		rel, err := filepath.Rel("/etc/prometheus/rules", rf)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("rule_files %s is outside the mounted rules folder", rf)
			continue
		}
		m, _ := filepath.Glob(filepath.Join(rulesDir, rel))
		if len(m) == 0 {
			t.Errorf("rule_files %s matches no file of %s", rf, rulesDir)
		}
	}
	amPort := "9093"
	for _, a := range prom.Alerting.Alertmanagers {
		for _, sc := range a.StaticConfigs {
			for _, tg := range sc.Targets {
				if host, port, _ := net.SplitHostPort(tg); host != "alertmanager" || port != amPort {
					t.Errorf("prometheus alerts to %s, want alertmanager:%s", tg, amPort)
				}
			}
		}
	}
	if _, ok := mountTargets(p.Services["alertmanager"])["/etc/alertmanager/alertmanager.yml"]; !ok {
		t.Error("alertmanager: its config is not mounted")
	}
}

// checkComposeGrafana: provisioning and dashboards are mounted where the provider reads them,
// every ${VAR} of the datasources file is set, and the ClickHouse plugin is installed.
func checkComposeGrafana(t *testing.T, p *types.Project) {
	t.Helper()
	g := p.Services["grafana"]
	mounts := mountTargets(g)
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "dashboards", "faultline.yml"), &provider)
	if len(provider.Providers) != 1 {
		t.Fatalf("grafana dashboards provisioning: %d providers, want 1", len(provider.Providers))
	}
	dashDir, ok := mounts[provider.Providers[0].Options.Path]
	if !ok {
		t.Fatalf("grafana: nothing mounted at the provider's path %s", provider.Providers[0].Options.Path)
	}
	if want, _ := filepath.Abs(filepath.Join("..", "dashboards", "json")); dashDir != want {
		t.Errorf("grafana mounts %s as dashboards, want the generated %s", dashDir, want)
	}
	for _, sub := range []string{"datasources", "dashboards"} {
		src, ok := mounts["/etc/grafana/provisioning/"+sub]
		if want, _ := filepath.Abs(filepath.Join("grafana", "provisioning", sub)); !ok || src != want {
			t.Errorf("grafana: /etc/grafana/provisioning/%s is %q, want %s", sub, src, want)
		}
	}
	ds, err := os.ReadFile(filepath.Join("grafana", "provisioning", "datasources", "faultline.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`).FindAllStringSubmatch(string(ds), -1) {
		if v := g.Environment[m[1]]; v == nil || *v == "" {
			t.Errorf("grafana: the datasources file needs %s, the service does not set it", m[1])
		}
	}
	if v := g.Environment["FAULTLINE_CLICKHOUSE_HOST"]; v != nil {
		if _, ok := p.Services[*v]; !ok {
			t.Errorf("grafana: FAULTLINE_CLICKHOUSE_HOST %s is not a service", *v)
		}
	}
	if v := g.Environment["FAULTLINE_PROMETHEUS_URL"]; v == nil || *v != "http://prometheus:9090" {
		t.Errorf("grafana: FAULTLINE_PROMETHEUS_URL %v, want http://prometheus:9090", v)
	}
	if v := g.Environment["GF_PLUGINS_PREINSTALL"]; v == nil || !strings.Contains(*v, "grafana-clickhouse-datasource") {
		t.Error("grafana: the ClickHouse plugin (grafana-clickhouse-datasource) is not installed")
	}
}

// checkComposeClickHouse: the users file defines the writer the ingesters log in as and the
// read-only user Grafana's datasource names, both with passwords from the environment.
func checkComposeClickHouse(t *testing.T, p *types.Project) {
	t.Helper()
	src, ok := mountTargets(p.Services["clickhouse"])["/etc/clickhouse-server/users.d/faultline.xml"]
	if !ok {
		t.Fatal("clickhouse: users.d/faultline.xml is not mounted")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	users := string(b)
	writer := *p.Services["ingest"].Environment["FAULTLINE_CLICKHOUSE_USERNAME"]
	for user, env := range map[string]string{writer: "FAULTLINE_CLICKHOUSE_PASSWORD", "faultline_ro": "FAULTLINE_CLICKHOUSE_RO_PASSWORD"} {
		re := regexp.MustCompile(`<` + user + `>\s*<password from_env="` + env + `"/>`)
		if !re.MatchString(users) {
			t.Errorf("clickhouse users.d: user %s does not take its password from %s", user, env)
		}
		if v := p.Services["clickhouse"].Environment[env]; v == nil || *v == "" {
			t.Errorf("clickhouse: %s is not passed to the server", env)
		}
	}
	if !strings.Contains(users, "<readonly>1</readonly>") {
		t.Error("clickhouse users.d: faultline_ro is not read-only")
	}
}

func mountTargets(s types.ServiceConfig) map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind {
			m[v.Target] = v.Source
		}
	}
	return m
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
