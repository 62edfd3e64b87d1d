package query

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/alerting"
	"github.com/faultline/faultline/catalog"
)

// alertScaleParams are SpikeParams judging what the generated spike alert judges: the last
// alerting.SpikeWindow against the alerting.SpikeRecent before it and the same window on
// alerting.SpikeDays days, ratio at least the default factor, at least the floor's count in
// the window. Only alpha has no PromQL counterpart (the default is kept).
func alertScaleParams(t *testing.T) SpikeParams {
	t.Helper()
	w, err := time.ParseDuration(alerting.SpikeWindow)
	if err != nil {
		t.Fatal(err)
	}
	r, err := time.ParseDuration(alerting.SpikeRecent)
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultSpikeParams()
	p.Window, p.Preceding, p.Days = w, r, alerting.SpikeDays
	p.MinRatio = catalog.DefaultAlertFactor
	p.MinCount = uint64(catalog.DefaultAlertFloor*w.Minutes()) + 1 // the alert's "rate > floor"
	return p
}

// promValues writes cumulative counter samples (one a minute, from 0) in promtool's
// expanding notation, one "a+bxn" run per stretch of equal increments.
func promValues(perMinute []int) string {
	vals := make([]int, len(perMinute)+1)
	for i, k := range perMinute {
		vals[i+1] = vals[i] + k
	}
	var parts []string
	for i := 0; i < len(vals); {
		j := i + 1
		if j == len(vals) {
			parts = append(parts, strconv.Itoa(vals[i]))
			break
		}
		d := vals[j] - vals[i]
		for j+1 < len(vals) && vals[j+1]-vals[j] == d {
			j++
		}
		parts = append(parts, fmt.Sprintf("%d+%dx%d", vals[i], d, j-i))
		i = j + 1
	}
	return strings.Join(parts, " ")
}

func TestPromValues(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{
		{[]int{2, 2, 2}, "0+2x3"},
		{[]int{0, 0, 1, 5}, "0+0x2 1+5x1"}, {[]int{1, 2}, "0+1x1 3"},
		{[]int{1}, "0+1x1"},
		{[]int{}, "0"},
	} {
		if got := promValues(c.in); got != c.want {
			t.Errorf("promValues(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// testSpikeRuleAgreement feeds the same week of series to the generated Prometheus spike
// rules (promtool test rules, counters sampled every minute) and to `query spikes` at the
// alert's scale on ClickHouse 18.16 and 26.7, and checks that the firing spike alerts name
// exactly the types the query reports, on every scenario, and that this is the scenarios'
// verdict.
func testSpikeRuleAgreement(t *testing.T, cat *catalog.Catalog, types []catalog.Entry, bs []*backend, cs []*Client) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): run `make deps` (installs prometheus with promtool)", err)
	}
	p := alertScaleParams(t)
	want := wantRoles()
	var verdicts [][]string
	for i, c := range cs {
		got, res := spikedRoles(t, c, types, seasonalEndAlert, p)
		if !slices.Equal(got, want) {
			t.Errorf("%s: query at the alert's scale found %v, want %v (%+v)", bs[i].name, got, want, res.Spikes)
		}
		verdicts = append(verdicts, got)
	}

	// The promtool side: the same minute counts as counters, evaluated at the judgement time,
	// asserting the query's verdict (not the scenarios') so a disagreement names itself.
	counts := minuteCounts(p.Window)
	var b strings.Builder
	dir := t.TempDir()
	rules := spikeRules(t, cat, dir)
	fmt.Fprintf(&b, "rule_files:\n  - %s\nevaluation_interval: 1m\ntests:\n  - name: spike rule agrees with query spikes\n    interval: 1m\n    input_series:\n", rules)
	for i, e := range types {
		fmt.Fprintf(&b, "      - series: 'faultline_events_total{error_type=%q,category=%q,environment=\"live\",status_code=\"%d\"}'\n        values: '%s'\n",
			e.ErrorType, e.Category, e.StatusCode, promValues(counts[i]))
	}
	fmt.Fprintf(&b, "    promql_expr_test:\n      - expr: count by (error_type) (ALERTS{alertstate=\"firing\",alertname=~\"Faultline.*Spike\"})\n        eval_time: %dm\n        exp_samples:\n",
		int(scenarioSpan/time.Minute))
	byRole := map[string]catalog.Entry{}
	for i, e := range types {
		byRole[scenarios[i].role] = e
	}
	found := verdicts[0]
	if len(found) == 0 {
		b.WriteString("          []\n")
	}
	for _, r := range found {
		fmt.Fprintf(&b, "          - labels: '{error_type=%q}'\n            value: 1\n", byRole[r].ErrorType)
	}
	file := filepath.Join(dir, "agreement_test.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command(promtool, "test", "rules", file).CombinedOutput()
	t.Logf("promtool test rules over %s of series took %s", scenarioSpan, time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("the Prometheus spike alerts disagree with query spikes %v at the alert's scale: %v\n%s", found, err, out)
	}
}

// spikeRules writes the generated rules the spike alerts are made of (the per-type recording
// rules and the spike alerts, exactly as alerting.Generate makes them; the committed file is
// checked against the generator by alerting's tests) into dir. The pipeline rules are left
// out because promtool evaluates every rule once a minute over the whole week.
func spikeRules(t *testing.T, cat *catalog.Catalog, dir string) string {
	t.Helper()
	rf := alerting.Generate(cat)
	for gi, g := range rf.Groups {
		var keep []alerting.Rule
		for _, r := range g.Rules {
			if strings.HasPrefix(r.Record, "faultline:events:") || strings.HasPrefix(r.Record, "faultline:spike_policy:") ||
				strings.HasSuffix(r.Alert, alerting.DedicatedAlertSuffix) {
				keep = append(keep, r)
			}
		}
		rf.Groups[gi].Rules = keep
	}
	data, err := alerting.Marshal(rf, cat.Version())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "spike.rules.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
