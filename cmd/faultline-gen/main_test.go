package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubernetesWritesTheCommittedFiles: the command go generate runs writes exactly what is
// committed in deploy/kubernetes/base (the deploy tests check those files against the code).
func TestKubernetesWritesTheCommittedFiles(t *testing.T) {
	out := t.TempDir()
	root := filepath.Join("..", "..")
	err := run([]string{"kubernetes", "-catalog", filepath.Join(root, "schema", "catalog.json"),
		"-datasources", filepath.Join(root, "deploy", "grafana", "provisioning", "datasources", "faultline.yml"), "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"prometheusrule.yaml", "dashboards.yaml", "datasources.yaml"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(root, "deploy", "kubernetes", "base", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from deploy/kubernetes/base: run go generate ./manifests", name)
		}
	}
}

func TestErrorsNameTheInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"nope"}, `"nope"`},
		{[]string{"kubernetes", "-datasources", "/nonexistent/ds.yml", "-out", "OUT"}, "/nonexistent/ds.yml"},
		{[]string{"rules", "-catalog", "/nonexistent/catalog.json", "-out", "OUT"}, "/nonexistent/catalog.json"},
	}
	for _, tc := range cases {
		out := t.TempDir()
		for i, a := range tc.args {
			if a == "OUT" {
				tc.args[i] = out
			}
		}
		err := run(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%v) = %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// TestRulesFollowConfig: faultline-gen rules --config takes severities, links and the ingest
// job from the alerts section, and writes the dedicated alerts' runbooks.
func TestRulesFollowConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`alerts:
  severity_page: P1
  severity_ticket: P3
  runbook_url: https://wiki.example/runbooks
  grafana_url: https://grafana.example
  ingest_job: ingest-eu
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rules.yml")
	books := filepath.Join(dir, "runbooks")
	if err := run([]string{"rules", "-catalog", "../../schema/catalog.json", "-config", cfg, "-out", out, "-runbooks", books}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rules := string(b)
	for _, want := range []string{"severity: P1", "severity: P3", "runbook_url: https://wiki.example/runbooks/FaultlineIngesterDown.md",
		"dashboard: https://grafana.example/d/faultline-pipeline/", `up{job="ingest-eu"} == 0`} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %q", want)
		}
	}
	if strings.Contains(rules, "severity: critical") || strings.Contains(rules, "severity: page") {
		t.Error("rules keep a default severity")
	}
	if _, err := os.Stat(filepath.Join(books, "FaultlineBillingNotVerifiedSpike.md")); err != nil {
		t.Errorf("dedicated runbook not written: %v", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("alerts:\n  grafana_url: grafana:3000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run([]string{"rules", "-catalog", "../../schema/catalog.json", "-config", bad, "-out", filepath.Join(dir, "x.yml"), "-runbooks", ""})
	if err == nil || !strings.Contains(err.Error(), "alerts.grafana_url") {
		t.Errorf("bad grafana_url: %v", err)
	}
}
