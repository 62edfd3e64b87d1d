package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// committed decodes every committed dashboard strictly and returns its targets.
func committed(t *testing.T) map[string][]Target {
	t.Helper()
	files, err := filepath.Glob("json/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in json/ (%v): run go generate ./dashboards", err)
	}
	out := make(map[string][]Target)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ts, err := Targets(d)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = ts
	}
	return out
}

func TestCommittedDashboardsUpToDate(t *testing.T) {
	files, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := filepath.Glob("json/*.json")
	if len(onDisk) != len(files) {
		t.Errorf("json/ holds %d files, the generator makes %d: run go generate ./dashboards", len(onDisk), len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("json", name))
		if err != nil {
			t.Fatalf("read %s: %v (run go generate ./dashboards)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("json/%s is stale: run go generate ./dashboards and commit", name)
		}
	}
}

// TestStrictDecode checks every committed dashboard with the SDK's strict decoding and
// validation, that each panel target decodes to a typed query, and that each dashboard has
// both Prometheus and ClickHouse panels.
func TestStrictDecode(t *testing.T) {
	for name, ts := range committed(t) {
		kinds := map[string]int{}
		for _, tg := range ts {
			kinds[tg.Kind]++
			if strings.TrimSpace(tg.Query) == "" || tg.RefID == "" {
				t.Errorf("%s: panel %q: empty query or refId", name, tg.Panel)
			}
		}
		if kinds["prometheus"] == 0 || kinds[ClickHouseType] == 0 {
			t.Errorf("%s: targets by kind %v: want both Prometheus and ClickHouse", name, kinds)
		}
	}
}

// TestStrictDecodeRejects makes sure the strict path is really strict, for the SDK's own
// fields and for the ClickHouse targets faultline registers.
func TestStrictDecodeRejects(t *testing.T) {
	files, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	good := string(files["error-type.json"])
	for name, bad := range map[string]string{
		"unknown dashboard field":  strings.Replace(good, `"uid": "faultline-error-type",`, `"uid": "faultline-error-type", "bogus": 1,`, 1),
		"unknown clickhouse field": strings.Replace(good, `"editorType": "sql",`, `"editorType": "sql", "sql": "x",`, 1),
		"unknown prometheus field": strings.Replace(good, `"legendFormat": "baseline",`, `"legendFormat": "baseline", "legend": "x",`, 1),
		"clickhouse format type":   strings.Replace(good, `"format": 1,`, `"format": "table",`, 1),
		"wrong type":               strings.Replace(good, `"title": "faultline / Error type"`, `"title": 7`, 1),
	} {
		if bad == good {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestExpandSQL(t *testing.T) {
	from := time.Unix(1700000000, 0)
	v := Vars{From: from, To: from.Add(time.Hour), Interval: 30 * time.Second,
		Values: map[string][]string{"database": {"db1"}, "error_type": {"it's"}, "category": {"billing", "sso"}},
		All:    map[string]bool{}}
	all := v
	all.All = map[string]bool{"category": true}
	for _, c := range []struct {
		name, in, want string
		vars           Vars
	}{
		{"time filter", "WHERE $__timeFilter(event_time)", "WHERE event_time >= toDateTime(1700000000) AND event_time <= toDateTime(1700003600)", v},
		{"time interval", "SELECT $__timeInterval(minute) AS t", "SELECT toStartOfInterval(toDateTime(minute), INTERVAL 30 second) AS t", v},
		{"interval seconds", "intDiv(x, $__interval_s) * $__interval_s", "intDiv(x, 30) * 30", v},
		{"database", "FROM ${database}.events", "FROM db1.events", v},
		{"sqlstring doubles quotes, as Grafana does", "error_type = ${error_type:sqlstring}", `error_type = 'it''s'`, v},
		{"singlequote, as Grafana does", "${error_type:singlequote}", `'it\'s'`, v},
		{"percentencode", "'${error_type:percentencode}'", `'it%27s'`, v},
		{"percentencode many", "'${category:percentencode}'", `'%7Bbilling%2Csso%7D'`, v},
		{"conditionalAll some", "AND $__conditionalAll(category IN (${category:singlequote}), $category)", "AND category IN ('billing','sso')", v},
		{"conditionalAll all", "AND $__conditionalAll(category IN (${category:singlequote}), $category)", "AND 1=1", all},
		{"from/to", "$__fromTime, $__toTime", "toDateTime(1700000000), toDateTime(1700003600)", v},
	} {
		got, err := ExpandSQL(c.in, c.vars)
		if err != nil || got != c.want {
			t.Errorf("%s: ExpandSQL(%q) = %q, %v; want %q", c.name, c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"$__timeFilterMs(x)", "$nosuchvar", "$__conditionalAll(a, $nosuch)", "${category}"} {
		if got, err := ExpandSQL(in, v); err == nil {
			t.Errorf("ExpandSQL(%q) = %q, want an error", in, got)
		}
	}
}

func TestExpandPromQL(t *testing.T) {
	from := time.Unix(1700000000, 0)
	v := Vars{From: from, To: from.Add(time.Hour), Interval: 15 * time.Second, RateInterval: time.Minute,
		Values: map[string][]string{"error_type": {"billing_not_verified"}, "category": {"sso", "billing"}},
		All:    map[string]bool{}}
	for in, want := range map[string]string{
		`rate(x{error_type="$error_type"}[$__rate_interval])`: `rate(x{error_type="billing_not_verified"}[60s])`,
		`x{category=~"${category:regex}"}`:                    `x{category=~"(billing|sso)"}`,
		`sum_over_time(x[$__interval]) / $__range`:            `sum_over_time(x[15s]) / 3600s`,
	} {
		got, err := ExpandPromQL(in, v)
		if err != nil || got != want {
			t.Errorf("ExpandPromQL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ExpandPromQL(`x{a="$nope"}`, v); err == nil {
		t.Error("unknown variable expanded without error")
	}
}

// PanelVars are the variable values the query tests use: every category selected (All), the
// billing_not_verified error type, a 6h range ending now.
func PanelVars(database string, now time.Time) Vars {
	cats := append(catalog.CategoryNames(), "unknown")
	return Vars{
		From: now.Add(-6 * time.Hour), To: now.Add(time.Minute),
		Interval: 20 * time.Second, RateInterval: time.Minute,
		Values: map[string][]string{"database": {database}, "category": cats, "error_type": {"billing_not_verified"}},
		All:    map[string]bool{"category": true},
	}
}

// Variables that reach PromQL matchers take only the values their query or list offers
// (faultline's own label values), never a value typed into the dashboard URL.
func TestPromQLVariablesRefuseCustomValues(t *testing.T) {
	rendered, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for name, raw := range rendered {
		var d struct {
			Templating struct {
				List []struct {
					Name             string `json:"name"`
					Type             string `json:"type"`
					AllowCustomValue *bool  `json:"allowCustomValue"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		for _, v := range d.Templating.List {
			if v.Type == "constant" {
				continue
			}
			seen++
			if v.AllowCustomValue == nil || *v.AllowCustomValue {
				t.Errorf("%s: variable %s accepts custom values", name, v.Name)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no variables found")
	}
}
