package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/alerting"
	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/loadgen"
	"go.yaml.in/yaml/v3"
)

const (
	liveTopic    = "api-errors"
	spikeType    = "billing_not_verified"
	spikeAlert   = "FaultlineBillingNotVerifiedSpike"
	spikeStart   = 45 * time.Second
	unknownShare = 0.2
	malformShare = 0.1
	// billing_not_verified's usual rate: well under the 5/min floor, and 40x of it well above.
	usualSpikeTypeRate = 0.01
)

// mayBeEmpty are expressions that legitimately return nothing on a healthy pipeline watched
// by a Prometheus younger than an hour: every alert (nothing is wrong), and the baseline parts
// that look 5 minutes and a day back. For them the test asserts that they run and that the
// metrics they read exist.
func mayBeEmpty(name string, isAlert bool) bool {
	return isAlert || name == alerting.RecEventsRatePrevHour || name == alerting.RecEventsRateTimeOfDay
}

// bornAtFirstEvent are metrics with no series until their first event (a label per
// topic/partition known only then); the ledger gauges stand for the ledger breach counter.
var bornAtFirstEvent = map[string]string{"faultline_ledger_breaches_total": "faultline_offset_committed"}

// TestLivePrometheus runs the real pipeline: kfake broker, ClickHouse 18.16, the ingester
// (cmd/ingest) fed by the load generator (cmd/loadgen) with a billing_not_verified spike, and
// Prometheus 2.42 scraping the ingester every second with the committed rule file unchanged.
// Every PromQL expression of every rule and every dashboard panel must run and return data
// (or, for the few that legitimately return nothing, run and read existing metrics), and the
// spike must make FaultlineBillingNotVerifiedSpike pending or firing, after it was inactive.
func TestLivePrometheus(t *testing.T) {
	root := testenv.RepoRoot(t)
	broker := testenv.Broker(t, liveTopic, 3)
	ch := testenv.ClickHouse(t)
	bin := t.TempDir()
	ingest := goBuild(t, root, bin, "./cmd/ingest", "ingest")
	lg := goBuild(t, root, bin, "./cmd/loadgen", "loadgen")
	catalogPath := filepath.Join(root, "schema/catalog.json")

	metricsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	startProcess(t, bin, "ingest", ingest, []string{"run"}, []string{
		"FAULTLINE_KAFKA_BROKERS=" + broker.Addr,
		"FAULTLINE_KAFKA_TOPIC=" + liveTopic,
		"FAULTLINE_KAFKA_GROUP=faultline-live-test",
		"FAULTLINE_CLICKHOUSE_ADDR=" + ch.Addr,
		"FAULTLINE_CLICKHOUSE_DATABASE=" + ch.Database,
		"FAULTLINE_METRICS_LISTEN=" + metricsAddr,
		"FAULTLINE_CATALOG_PATH=" + catalogPath,
	})
	waitFor(t, 60*time.Second, "ingester /metrics", func() error {
		body, err := httpGet("http://" + metricsAddr + "/metrics")
		if err == nil && !strings.Contains(body, "faultline_events_total") {
			err = fmt.Errorf("no faultline_events_total yet")
		}
		return err
	})

	rules, err := filepath.Abs("../deploy/prometheus/rules/faultline.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	prom := testenv.Prometheus(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: faultline-ingest
    static_configs:
      - targets: ["%s"]
`, rules, metricsAddr))

	// Pace the generator so that billing_not_verified usually runs at usualSpikeTypeRate.
	cat, err := catalog.Load(catalogPath, "")
	if err != nil {
		t.Fatal(err)
	}
	opts := loadgen.DefaultOptions()
	opts.Seed, opts.UnknownShare, opts.MalformedShare = 7, unknownShare, malformShare
	share := loadgen.New(cat, opts).TypeShare(spikeType)
	if share <= 0 {
		t.Fatalf("loadgen gives %s no share", spikeType)
	}
	rate := usualSpikeTypeRate / share
	t.Logf("loadgen: %.1f msg/s, %s share %.4f, spike 40x from %s", rate, spikeType, share, spikeStart)
	started := time.Now()
	startProcess(t, bin, "loadgen", lg, []string{
		"--brokers", broker.Addr, "--topic", liveTopic, "--catalog", catalogPath,
		"--rate", strconv.FormatFloat(rate, 'f', 3, 64), "--seed", "7",
		"--unknown-share", strconv.FormatFloat(unknownShare, 'f', -1, 64),
		"--malformed-share", strconv.FormatFloat(malformShare, 'f', -1, 64),
		"--spike", fmt.Sprintf("%s:40x:10m@%s", spikeType, spikeStart),
	}, nil)

	// Before the spike: stored events flow, the rules evaluate, and the billing alert is inactive.
	waitFor(t, 40*time.Second, "events counted by the recording rules", func() error {
		n, err := promQuery(prom.URL, `sum(`+alerting.RecEventsRate5m+`) > 0`)
		if err == nil && n == 0 {
			err = fmt.Errorf("no events yet")
		}
		return err
	})
	if wait := time.Until(started.Add(spikeStart - 3*time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	if state := alertState(t, prom.URL, spikeAlert); state != "" {
		t.Errorf("%s is %s before the spike started", spikeAlert, state)
	}

	// The spike: pending (for: 2m) or firing within a minute and a half.
	var state string
	waitFor(t, 150*time.Second, spikeAlert+" pending", func() error {
		state = alertState(t, prom.URL, spikeAlert)
		if state != "pending" && state != "firing" {
			return fmt.Errorf("state %q", state)
		}
		return nil
	})
	t.Logf("%s is %s %s after the spike started", spikeAlert, state, time.Since(started.Add(spikeStart)).Round(time.Second))

	// Every expression of every rule.
	raw, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	var rf alerting.RuleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			checkExpr(t, prom.URL, "rule "+name, r.Expr, mayBeEmpty(name, r.Alert != ""))
		}
	}

	// Every Prometheus target of every panel, with Grafana's variables expanded.
	vars := PanelVars(ch.Database, time.Now())
	for file, ts := range committed(t) {
		for _, tg := range ts {
			if tg.Kind != "prometheus" {
				continue
			}
			expr, err := ExpandPromQL(tg.Query, vars)
			if err != nil {
				t.Errorf("%s / %s: %v", file, tg.Panel, err)
				continue
			}
			checkExpr(t, prom.URL, file+" / "+tg.Panel+" / "+tg.RefID, expr, false)
		}
	}

	// The Error type dashboard's variable: label_values(faultline_events_total, error_type).
	body, err := httpGet(prom.URL + "/api/v1/label/error_type/values?match[]=faultline_events_total")
	if err != nil || !strings.Contains(body, `"`+spikeType+`"`) {
		t.Errorf("error_type variable values: %v %.200s", err, body)
	}
}

var metricNameRE = regexp.MustCompile(`\b(faultline_[a-z_]+|process_[a-z_]+|go_[a-z_]+)\b`)

// checkExpr runs expr at now. It must succeed, and return samples unless mayBeEmpty; an empty
// result must read metrics that exist.
func checkExpr(t *testing.T, promURL, name, expr string, mayBeEmpty bool) {
	t.Helper()
	n, err := promQuery(promURL, expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", name, err, expr)
		return
	}
	if n > 0 {
		return
	}
	if !mayBeEmpty {
		t.Errorf("%s: no data\n%s", name, expr)
		return
	}
	for _, m := range metricNameRE.FindAllString(expr, -1) {
		if sub, ok := bornAtFirstEvent[m]; ok {
			m = sub
		}
		if c, err := promQuery(promURL, "count("+m+")"); err != nil || c == 0 {
			t.Errorf("%s: empty, and its metric %s has no series (%v)", name, m, err)
		}
	}
}

// promQuery runs an instant query and returns the number of samples.
func promQuery(promURL, expr string) (int, error) {
	resp, err := http.PostForm(promURL+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, fmt.Errorf("decode answer (%s): %w", resp.Status, err)
	}
	if out.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s", out.Error)
	}
	if out.Data.ResultType == "scalar" {
		return 1, nil
	}
	return len(out.Data.Result), nil
}

// alertState returns the state of alertname from GET /api/v1/alerts ("" when inactive).
func alertState(t *testing.T, promURL, alertname string) string {
	t.Helper()
	body, err := httpGet(promURL + "/api/v1/alerts")
	if err != nil {
		t.Fatalf("GET /api/v1/alerts: %v", err)
	}
	var out struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("decode /api/v1/alerts: %v", err)
	}
	state := ""
	for _, a := range out.Data.Alerts {
		if a.Labels["alertname"] == alertname && (state == "" || a.State == "firing") {
			state = a.State
		}
	}
	return state
}

func httpGet(u string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return string(b), err
}

func waitFor(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not after %s: %v", what, timeout, err)
}

func goBuild(t *testing.T, root, dir, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// startProcess runs path in dir (away from the repo's config.yaml) with its output in a log
// that is shown when the test fails, and stops it with SIGTERM at cleanup.
func startProcess(t *testing.T, dir, name, path string, args, env []string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 30 {
				lines = lines[len(lines)-30:]
			}
			t.Logf("%s log (last lines):\n%s", name, strings.Join(lines, "\n"))
		}
	})
}
