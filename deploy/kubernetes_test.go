package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/faultline/faultline/alerting"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/dashboards"
	"github.com/faultline/faultline/manifests"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/schema"
)

const kubeDir = "kubernetes"

// rendered is what `kubectl kustomize` made of one kustomization, every object decoded
// strictly into its typed struct.
type rendered struct {
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	configMaps  []*corev1.ConfigMap
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	monitors    []*monitoringv1.ServiceMonitor
	rules       []*monitoringv1.PrometheusRule
}

// render runs kubectl kustomize on dir and decodes every object with the strict decoder of
// apimachinery: an unknown field, a duplicate field or a wrong type fails, as the API server
// would refuse it.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found: the Kubernetes manifests are rendered with `kubectl kustomize` (kustomize v5); install kubectl")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, kubectl, "kustomize", dir)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, batchv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

	out := &rendered{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(&stdout))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: split rendered YAML: %v", dir, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: strict decode: %v\n%.400s", dir, err, doc)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			out.deployments = append(out.deployments, o)
		case *batchv1.Job:
			out.jobs = append(out.jobs, o)
		case *corev1.ConfigMap:
			out.configMaps = append(out.configMaps, o)
		case *corev1.Service:
			out.services = append(out.services, o)
		case *policyv1.PodDisruptionBudget:
			out.pdbs = append(out.pdbs, o)
		case *monitoringv1.ServiceMonitor:
			out.monitors = append(out.monitors, o)
		case *monitoringv1.PrometheusRule:
			out.rules = append(out.rules, o)
		default:
			t.Errorf("%s: unexpected object %s", dir, gvk)
		}
	}
	return out
}

func TestKubernetesBase(t *testing.T) {
	r := render(t, filepath.Join(kubeDir, "base"))
	checkKubernetes(t, "base", r, 2)
}

func TestKubernetesExampleOverlay(t *testing.T) {
	r := render(t, filepath.Join(kubeDir, "overlays", "example"))
	checkKubernetes(t, "overlays/example", r, 3)
	d := r.deployments[0]
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/faultline:0.1.0" {
		t.Errorf("overlay image %s", img)
	}
	if r.monitors[0].Labels["release"] == "" {
		t.Errorf("ServiceMonitor %s lacks the release label the overlay adds", r.monitors[0].Name)
	}
	if r.rules[0].Labels["release"] == "" {
		t.Error("PrometheusRule lacks the release label the overlay adds")
	}
	env := map[string]bool{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = true
	}
	for _, want := range []string{"FAULTLINE_KAFKA_SASL_MECHANISM", "FAULTLINE_KAFKA_SASL_PASSWORD", "FAULTLINE_KAFKA_TLS_ENABLED", "FAULTLINE_CLICKHOUSE_TLS_ENABLED"} {
		if !env[want] {
			t.Errorf("overlay Deployment does not set %s", want)
		}
	}
}

// checkKubernetes checks one rendered kustomization against the code.
func checkKubernetes(t *testing.T, where string, r *rendered, replicas int32) {
	t.Helper()
	if len(r.deployments) != 1 || len(r.jobs) != 1 || len(r.pdbs) != 1 || len(r.services) != 1 || len(r.monitors) != 1 || len(r.rules) != 1 {
		t.Fatalf("%s: %d Deployments, %d Jobs, %d PDBs, %d Services, %d ServiceMonitors, %d PrometheusRules: want one of each",
			where, len(r.deployments), len(r.jobs), len(r.pdbs), len(r.services), len(r.monitors), len(r.rules))
	}
	configMaps := map[string]*corev1.ConfigMap{}
	for _, cm := range r.configMaps {
		configMaps[cm.Name] = cm
	}

	d := r.deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas {
		t.Errorf("%s: Deployment replicas %v, want %d", where, d.Spec.Replicas, replicas)
	}
	pod := d.Spec.Template
	cfg := checkPod(t, where+" Deployment "+d.Name, pod.Spec, configMaps, []string{"ingest"})
	c := pod.Spec.Containers[0]

	grace := cfg.Ingest.ShutdownTimeout + pipeline.LeaveGrace
	var graceSeconds int64 = 30 // Kubernetes' default
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		graceSeconds = *pod.Spec.TerminationGracePeriodSeconds
	}
	if time.Duration(graceSeconds)*time.Second <= grace {
		t.Errorf("%s: terminationGracePeriodSeconds %d must exceed ingest.shutdown_timeout + leave grace (%s)", where, graceSeconds, grace)
	}
	if cfg.Ingest.MigrateOnStart {
		t.Errorf("%s: ingest.migrate_on_start should be false: the migration Job applies the schema", where)
	}
	// The metrics listener is the port the probes, the Service and the ServiceMonitor use.
	listen := cfg.Metrics.Listen
	port := listen[strings.LastIndex(listen, ":")+1:]
	var metricsPort *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "metrics" {
			metricsPort = &c.Ports[i]
		}
	}
	if metricsPort == nil || itoa(metricsPort.ContainerPort) != port {
		t.Fatalf("%s: container port metrics %v, the ingester listens on %s", where, metricsPort, listen)
	}
	for name, probe := range map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name || probe.HTTPGet.Port != intstr.FromString("metrics") {
			t.Errorf("%s: want an HTTP probe of %s on port metrics, got %+v", where, name, probe)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: want cpu and memory requests and a memory limit, got %+v", where, c.Resources)
	}

	// Every replica shares the group: the Deployment's pods are identical by construction, so
	// what matters is that no per-pod value sets the group.
	for _, e := range c.Env {
		if e.Name == "FAULTLINE_KAFKA_GROUP" && e.ValueFrom != nil {
			t.Errorf("%s: kafka.group comes from %+v: every replica must use the same group", where, e.ValueFrom)
		}
	}

	job := r.jobs[0]
	jcfg := checkPod(t, where+" Job "+job.Name, job.Spec.Template.Spec, configMaps, []string{"ingest"})
	if args := job.Spec.Template.Spec.Containers[0].Args; len(args) == 0 || args[0] != "migrate" {
		t.Errorf("%s: migration Job args %v, want ingest migrate", where, args)
	}
	if jcfg.ClickHouse.Database != cfg.ClickHouse.Database || !slices.Equal(jcfg.ClickHouse.Addr, cfg.ClickHouse.Addr) {
		t.Errorf("%s: the Job migrates %v/%s, the ingesters use %v/%s", where, jcfg.ClickHouse.Addr, jcfg.ClickHouse.Database, cfg.ClickHouse.Addr, cfg.ClickHouse.Database)
	}

	podLabels := pod.Labels
	if sel := r.pdbs[0].Spec.Selector; sel == nil || !matches(sel.MatchLabels, podLabels) {
		t.Errorf("%s: the PodDisruptionBudget does not select the ingester pods", where)
	}
	if r.pdbs[0].Spec.MaxUnavailable == nil && r.pdbs[0].Spec.MinAvailable == nil {
		t.Errorf("%s: the PodDisruptionBudget sets no bound", where)
	}
	svc := r.services[0]
	if !matches(svc.Spec.Selector, podLabels) {
		t.Errorf("%s: Service %s does not select the ingester pods", where, svc.Name)
	}
	var svcPort *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == "metrics" {
			svcPort = &svc.Spec.Ports[i]
		}
	}
	if svcPort == nil || svcPort.TargetPort != intstr.FromString("metrics") {
		t.Errorf("%s: Service %s has no port metrics targeting the container's metrics port", where, svc.Name)
	}
	mon := r.monitors[0]
	if !matches(mon.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("%s: ServiceMonitor %s does not select Service %s", where, mon.Name, svc.Name)
	}
	if len(mon.Spec.Endpoints) != 1 || mon.Spec.Endpoints[0].Port != "metrics" || mon.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("%s: ServiceMonitor endpoints %+v, want port metrics path /metrics", where, mon.Spec.Endpoints)
	}

	checkRuleEqualsRuleFile(t, where, r.rules[0])
	checkDashboardConfigMaps(t, where, r.configMaps)
}

// checkPod checks what the ingester and the migration Job have in common and returns the
// configuration the container gets (its ConfigMap file plus its environment).
func checkPod(t *testing.T, where string, spec corev1.PodSpec, configMaps map[string]*corev1.ConfigMap, command []string) *config.Config {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", where, len(spec.Containers))
	}
	c := spec.Containers[0]
	if !slices.Equal(c.Command, command) {
		t.Errorf("%s: command %v, want %v", where, c.Command, command)
	}
	psc, sc := spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: the pod must run as a non-root user", where)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: want readOnlyRootFilesystem, no privilege escalation, all capabilities dropped", where)
	}

	// Environment: known variables; secrets only by reference; $(VAR) references resolved.
	env := map[string]string{}
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "from-secret-" + e.ValueFrom.SecretKeyRef.Name
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = "10.0.0.7" // a pod IP, for $(POD_IP)
		default:
			if strings.Contains(e.Name, "PASSWORD") && !strings.HasSuffix(e.Name, "_FILE") {
				t.Errorf("%s: %s has a literal value: secrets come from a secretKeyRef", where, e.Name)
			}
			v := e.Value
			for k, val := range env {
				v = strings.ReplaceAll(v, "$("+k+")", val)
			}
			env[e.Name] = v
		}
	}
	checkEnv(t, where, names)
	// A *_FILE variable names a file mounted into the container (a Secret, usually). It cannot
	// exist where the test runs, so it is checked against the mounts and left out of the load.
	for name, v := range env {
		if !strings.HasSuffix(name, "_FILE") {
			continue
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(v, strings.TrimSuffix(m.MountPath, "/")+"/") {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s: %s=%s is under no volume mount of the container", where, name, v)
		}
		delete(env, name)
	}

	// --config names a file of a ConfigMap of this render, mounted where the flag says.
	args := c.Args
	i := slices.Index(args, "--config")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%s: args %v have no --config", where, args)
	}
	cfgPath := args[i+1]
	var cm *corev1.ConfigMap
	for _, m := range c.VolumeMounts {
		if filepath.Dir(cfgPath) != m.MountPath {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				cm = configMaps[v.ConfigMap.Name]
				if cm == nil {
					t.Fatalf("%s: volume %s names ConfigMap %s, which the render lacks", where, v.Name, v.ConfigMap.Name)
				}
			}
		}
	}
	if cm == nil {
		t.Fatalf("%s: no ConfigMap mounted at %s for --config %s", where, filepath.Dir(cfgPath), cfgPath)
	}
	content, ok := cm.Data[filepath.Base(cfgPath)]
	if !ok {
		t.Fatalf("%s: ConfigMap %s has no key %s", where, cm.Name, filepath.Base(cfgPath))
	}
	// Secrets are referenced by name, never created here.
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "" {
			t.Errorf("%s: volume %s references a Secret without a name", where, v.Name)
		}
	}
	return loadConfigFile(t, where, content, env)
}

// checkRuleEqualsRuleFile: the PrometheusRule holds exactly the groups of the generated rule
// file deploy/prometheus/rules/faultline.rules.yml.
func checkRuleEqualsRuleFile(t *testing.T, where string, rule *monitoringv1.PrometheusRule) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "rules", "faultline.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file alerting.RuleFile
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	var got alerting.RuleFile
	for _, g := range rule.Spec.Groups {
		gg := alerting.Group{Name: g.Name}
		if g.Interval != nil {
			gg.Interval = string(*g.Interval)
		}
		for _, r := range g.Rules {
			rr := alerting.Rule{Record: r.Record, Alert: r.Alert, Expr: r.Expr.String(), Labels: r.Labels, Annotations: r.Annotations}
			if r.For != nil {
				rr.For = string(*r.For)
			}
			if len(rr.Labels) == 0 {
				rr.Labels = nil
			}
			if len(rr.Annotations) == 0 {
				rr.Annotations = nil
			}
			gg.Rules = append(gg.Rules, rr)
		}
		got.Groups = append(got.Groups, gg)
	}
	if !reflect.DeepEqual(got, file) {
		t.Errorf("%s: PrometheusRule %s differs from deploy/prometheus/rules/faultline.rules.yml: run go generate ./alerting ./manifests", where, rule.Name)
	}
}

// checkDashboardConfigMaps: one ConfigMap per dashboard of dashboards/json, labelled for the
// Grafana sidecar, holding the file byte for byte.
func checkDashboardConfigMaps(t *testing.T, where string, cms []*corev1.ConfigMap) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "dashboards", "json", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in dashboards/json: %v", err)
	}
	found := map[string]bool{}
	for _, cm := range cms {
		if cm.Labels[manifests.DashboardLabel] != "1" {
			continue
		}
		for name, data := range cm.Data {
			want, err := os.ReadFile(filepath.Join("..", "dashboards", "json", name))
			if err != nil {
				t.Errorf("%s: ConfigMap %s holds %s, which is not in dashboards/json", where, cm.Name, name)
				continue
			}
			if data != string(want) {
				t.Errorf("%s: ConfigMap %s: %s differs from dashboards/json: run go generate ./dashboards ./manifests", where, cm.Name, name)
			}
			found[name] = true
		}
	}
	for _, f := range files {
		if !found[filepath.Base(f)] {
			t.Errorf("%s: dashboard %s has no ConfigMap labelled %s", where, filepath.Base(f), manifests.DashboardLabel)
		}
	}

	// The datasources the dashboards name, for the sidecar too.
	want, err := os.ReadFile(filepath.Join("grafana", "provisioning", "datasources", "faultline.yml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cm := range cms {
		if cm.Labels[manifests.DatasourceLabel] == "1" {
			n++
			if cm.Data[manifests.DatasourcesName] != string(want) {
				t.Errorf("%s: ConfigMap %s does not hold deploy/grafana/provisioning/datasources/faultline.yml: run go generate ./manifests", where, cm.Name)
			}
		}
	}
	if n != 1 {
		t.Errorf("%s: %d ConfigMaps labelled %s, want 1", where, n, manifests.DatasourceLabel)
	}
}

// TestKubernetesGeneratedUpToDate regenerates the PrometheusRule and the dashboard ConfigMaps
// from the code (the embedded catalog, alerting.Build with the default options, dashboards.Render), as
// `go generate ./manifests` does, and compares them with the committed files.
func TestKubernetesGeneratedUpToDate(t *testing.T) {
	cat, err := schema.LoadCatalog("", "")
	if err != nil {
		t.Fatal(err)
	}
	rule, err := manifests.PrometheusRule(alerting.Build(cat, alerting.DefaultOptions()), cat.Version())
	if err != nil {
		t.Fatal(err)
	}
	files, err := dashboards.Render()
	if err != nil {
		t.Fatal(err)
	}
	cms, err := manifests.DashboardConfigMaps(files)
	if err != nil {
		t.Fatal(err)
	}
	provisioning, err := os.ReadFile(filepath.Join("grafana", "provisioning", "datasources", "faultline.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := manifests.DatasourcesConfigMap(provisioning)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{manifests.PrometheusRuleFile: rule, manifests.DashboardsFile: cms, manifests.DatasourcesFile: ds} {
		got, err := os.ReadFile(filepath.Join(kubeDir, "base", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/kubernetes/base/%s is stale: run go generate ./manifests", name)
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// loadConfigFile loads content (a ConfigMap's config.yaml) with env, as the container would.
func loadConfigFile(t *testing.T, where, content string, env map[string]string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadWithEnv(t, where, path, env)
}
