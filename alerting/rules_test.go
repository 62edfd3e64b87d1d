package alerting

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/config"
)

const (
	catalogPath = "../schema/catalog.json"
	rulesPath   = "../deploy/prometheus/rules/faultline.rules.yml"
	promtoolBin = "promtool"
)

func loadCatalog(t *testing.T, overrides string) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(catalogPath, overrides)
	if err != nil {
		t.Fatalf("load catalog: %v", err)
	}
	return c
}

func render(t *testing.T, c *catalog.Catalog) []byte {
	t.Helper()
	b, err := Marshal(Build(c, DefaultOptions()), c.Version())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath(promtoolBin)
	if err != nil {
		t.Fatalf("promtool not found (%v): run `make deps` (installs prometheus with promtool)", err)
	}
	return p
}

// TestCommittedRulesUpToDate fails when deploy/prometheus/rules is stale.
func TestCommittedRulesUpToDate(t *testing.T) {
	want := render(t, loadCatalog(t, ""))
	got, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatalf("read committed rules: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go generate ./alerting` and commit the result", rulesPath)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", rulesPath).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// TestPromtoolRules runs the unit tests in deploy/prometheus/tests: each alert with cases
// that fire and cases that must not.
func TestPromtoolRules(t *testing.T) {
	files, err := filepath.Glob("../deploy/prometheus/tests/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests found (%v)", err)
	}
	args := append([]string{"test", "rules"}, files...)
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertIsUnitTested keeps the promtool tests in step with the generated alerts.
func TestEveryAlertIsUnitTested(t *testing.T) {
	var tests []byte
	files, _ := filepath.Glob("../deploy/prometheus/tests/*.yml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, b...)
	}
	for _, g := range Build(loadCatalog(t, ""), DefaultOptions()).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !bytes.Contains(tests, []byte("alertname: "+r.Alert+"\n")) {
				t.Errorf("alert %s has no promtool test in deploy/prometheus/tests", r.Alert)
			}
		}
	}
}

// TestPolicyOverrides generates rules with an overrides file that changes a factor, a floor
// and billing_not_verified's severity, and runs promtool tests against that output.
func TestPolicyOverrides(t *testing.T) {
	c := loadCatalog(t, "testdata/overrides.yaml")
	f := Build(c, DefaultOptions())
	exprs := f.Exprs()
	if _, ok := exprs[DedicatedAlertName("billing_not_verified")]; ok {
		t.Errorf("billing_not_verified overridden to ticket still has a dedicated alert")
	}
	if !strings.Contains(exprs[GenericSpikeAlert], "invalid_authorization_header") ||
		strings.Contains(exprs[GenericSpikeAlert], "billing_not_verified") {
		t.Errorf("generic alert exclusions wrong: %s", exprs[GenericSpikeAlert])
	}
	var policy []string
	for _, r := range f.Groups[0].Rules {
		if r.Record == RecPolicyFactor || r.Record == RecPolicyFloor {
			policy = append(policy, r.Record+"{"+r.Labels["error_type"]+"}="+r.Expr)
		}
	}
	want := []string{RecPolicyFactor + "{duplicate_email}=vector(10)", RecPolicyFloor + "{duplicate_email}=vector(1)"}
	if strings.Join(policy, ",") != strings.Join(want, ",") {
		t.Errorf("policy series = %v, want %v", policy, want)
	}

	dir := t.TempDir()
	b, err := Marshal(f, c.Version())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "faultline.rules.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := os.ReadFile("testdata/policy_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy_test.yml"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool(t), "test", "rules", filepath.Join(dir, "policy_test.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules (overrides): %v\n%s", err, out)
	}
}

// TestDefaultCatalogDedicatedAlerts checks that exactly the paging entries get dedicated
// alerts, and that billing_not_verified's carries its catalog entry.
func TestDefaultCatalogDedicatedAlerts(t *testing.T) {
	c := loadCatalog(t, "")
	var pages []string
	for _, e := range c.Entries() {
		if c.Policy(e.ErrorType).Severity == catalog.SeverityPage {
			pages = append(pages, DedicatedAlertName(e.ErrorType))
		}
	}
	var got []string
	var billing *Rule
	for _, r := range Generate(c).Groups[1].Rules {
		if strings.HasSuffix(r.Alert, DedicatedAlertSuffix) && r.Alert != GenericSpikeAlert {
			got = append(got, r.Alert)
		}
		if r.Alert == "FaultlineBillingNotVerifiedSpike" {
			billing = &r
		}
	}
	if strings.Join(got, ",") != strings.Join(pages, ",") {
		t.Errorf("dedicated alerts %v, want %v", got, pages)
	}
	if billing == nil {
		t.Fatal("no FaultlineBillingNotVerifiedSpike")
	}
	e, _ := c.Lookup("billing_not_verified")
	if billing.Labels["severity"] != catalog.SeverityPage || billing.Annotations["remediation"] != e.Remediation ||
		billing.Annotations["actor"] != e.Actor || billing.Annotations["docs_url"] != e.ErrorURL {
		t.Errorf("billing alert labels/annotations do not carry the catalog entry: %+v", billing)
	}
}

func TestDedicatedAlertName(t *testing.T) {
	for in, want := range map[string]string{
		"billing_not_verified":      "FaultlineBillingNotVerifiedSpike",
		"invalid_authorization_url": "FaultlineInvalidAuthorizationUrlSpike",
		"x":                         "FaultlineXSpike",
		"a__b_":                     "FaultlineABSpike",
	} {
		if got := DedicatedAlertName(in); got != want {
			t.Errorf("DedicatedAlertName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEveryAlertHasARunbook: each alert links docs/runbooks/<alert>.md, and the file exists,
// says what it means, what to check (with a query command) and what fixes it.
func TestEveryAlertHasARunbook(t *testing.T) {
	f := Build(loadCatalog(t, ""), DefaultOptions())
	alerts := f.Alerts()
	if len(alerts) < 10 || !slices.Contains(alerts, IngesterDownAlert) {
		t.Fatalf("alerts %v: want the pipeline alerts and %s", alerts, IngesterDownAlert)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			want := DefaultRunbookURL + "/" + r.Alert + ".md"
			if got := r.Annotations["runbook_url"]; got != want {
				t.Errorf("%s runbook_url %q, want %q", r.Alert, got, want)
			}
			b, err := os.ReadFile(filepath.Join("..", RunbookDir, r.Alert+".md"))
			if err != nil {
				t.Errorf("%s has no runbook: %v", r.Alert, err)
				continue
			}
			text := string(b)
			for _, part := range []string{"# " + r.Alert + "\n", "## What it means", "## What to check", "## What fixes it", "query ", "Dashboard: **faultline / "} {
				if !strings.Contains(text, part) {
					t.Errorf("runbook of %s lacks %q", r.Alert, part)
				}
			}
			if d := r.Annotations["dashboard"]; !strings.HasPrefix(d, DefaultGrafanaURL+"/d/faultline-") {
				t.Errorf("%s dashboard link %q is not absolute under %s", r.Alert, d, DefaultGrafanaURL)
			}
		}
	}
}

// TestCommittedRunbooksUpToDate fails when a generated runbook is stale or missing.
func TestCommittedRunbooksUpToDate(t *testing.T) {
	books, err := DedicatedRunbooks(loadCatalog(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(books) != 3 {
		t.Errorf("%d generated runbooks, want one per dedicated alert (3)", len(books))
	}
	for name, want := range books {
		got, err := os.ReadFile(filepath.Join("..", RunbookDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/%s is stale or missing (%v): run `go generate ./alerting` and commit the result", RunbookDir, name, err)
		}
	}
}

// TestBuildOptions: severities, links and the ingest job follow the options.
func TestBuildOptions(t *testing.T) {
	o := Options{SeverityPage: "P1", SeverityTicket: "P3", RunbookURL: "https://wiki.example/runbooks/", GrafanaURL: "https://grafana.example/g/", IngestJob: "ingest-eu"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	f := Build(loadCatalog(t, ""), o)
	seen := map[string]bool{}
	for _, r := range f.Groups[1].Rules {
		sev := r.Labels["severity"]
		if sev != "P1" && sev != "P3" {
			t.Errorf("%s severity %q, want P1 or P3", r.Alert, sev)
		}
		seen[sev] = true
		if got := r.Annotations["runbook_url"]; got != "https://wiki.example/runbooks/"+r.Alert+".md" {
			t.Errorf("%s runbook_url %q", r.Alert, got)
		}
		if !strings.HasPrefix(r.Annotations["dashboard"], "https://grafana.example/g/d/") {
			t.Errorf("%s dashboard %q", r.Alert, r.Annotations["dashboard"])
		}
	}
	if !seen["P1"] || !seen["P3"] {
		t.Errorf("severities seen %v, want both", seen)
	}
	if e := f.Exprs()[IngesterDownAlert]; !strings.Contains(e, `up{job="ingest-eu"} == 0`) || !strings.Contains(e, `absent(up{job="ingest-eu"})`) {
		t.Errorf("%s expr %q does not watch job ingest-eu", IngesterDownAlert, e)
	}
	// Generate alone still carries the catalog's severities: Build does the mapping.
	for _, r := range Generate(loadCatalog(t, "")).Groups[1].Rules {
		if s := r.Labels["severity"]; s != catalog.SeverityPage && s != catalog.SeverityTicket {
			t.Errorf("Generate: %s severity %q", r.Alert, s)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	good := DefaultOptions()
	for _, c := range []struct {
		name string
		mod  func(*Options)
	}{
		{"empty page severity", func(o *Options) { o.SeverityPage = "" }},
		{"quote in ticket severity", func(o *Options) { o.SeverityTicket = `warn"ing` }},
		{"brace in job", func(o *Options) { o.IngestJob = "a}" }},
		{"relative grafana url", func(o *Options) { o.GrafanaURL = "/grafana" }},
		{"runbook url without scheme", func(o *Options) { o.RunbookURL = "github.com/x" }},
	} {
		o := good
		c.mod(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestDefaultOptionsMatchConfig keeps config.yaml's alerts section and the committed rules
// in step.
func TestDefaultOptionsMatchConfig(t *testing.T) {
	cfg, err := config.Load("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := Options{SeverityPage: cfg.Alerts.SeverityPage, SeverityTicket: cfg.Alerts.SeverityTicket,
		RunbookURL: cfg.Alerts.RunbookURL, GrafanaURL: cfg.Alerts.GrafanaURL, IngestJob: cfg.Alerts.IngestJob}
	if got != DefaultOptions() {
		t.Errorf("config alerts.* = %+v, DefaultOptions = %+v", got, DefaultOptions())
	}
}
