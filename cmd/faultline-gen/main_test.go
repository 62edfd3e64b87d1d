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
