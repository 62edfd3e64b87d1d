package alerting

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/catalog"
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
	b, err := Marshal(Generate(c), c.Version())
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
	for _, g := range Generate(loadCatalog(t, "")).Groups {
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
	f := Generate(c)
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
