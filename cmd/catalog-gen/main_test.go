package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const page = `400 errors

alpha_error

400Bad request

Alpha went wrong.

Error

{
  "status_code": 400,
  "error_type": "alpha_error",
  "error_message": "Alpha went wrong.",
  "error_url": "https://example.com/errors/400#alpha_error"
}
How to get help

beta_error

400Bad request

Common causes

  • Beta & co.

Error

{
  "status_code": 400,
  "error_type": "beta_error",
  "error_message": "Beta <failed>.",
  "error_url": "https://example.com/errors/400#beta_error"
}
`

const curation = `entries:
  beta_error:
    category: billing
    actor: account_admin
    remediation: Add billing details.
    alert: {severity: page}
  alpha_error:
    category: request_validation
    actor: developer
    remediation: Fix the request.
`

const want = `[
  {
    "error_type": "alpha_error",
    "status_code": 400,
    "description": "Alpha went wrong.",
    "error_message": "Alpha went wrong.",
    "error_url": "https://example.com/errors/400#alpha_error",
    "common_causes": [],
    "troubleshooting": [],
    "category": "request_validation",
    "remediation": "Fix the request.",
    "actor": "developer",
    "source": "docs"
  },
  {
    "error_type": "beta_error",
    "status_code": 400,
    "description": "Beta <failed>.",
    "error_message": "Beta <failed>.",
    "error_url": "https://example.com/errors/400#beta_error",
    "common_causes": [
      "Beta & co."
    ],
    "troubleshooting": [],
    "category": "billing",
    "remediation": "Add billing details.",
    "actor": "account_admin",
    "alert": {
      "severity": "page"
    },
    "source": "docs"
  }
]
`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		curation string
		wantErr  string
	}{
		{"ok", curation, ""},
		{"docs entry without curation", "entries:\n  alpha_error: {category: billing, actor: developer, remediation: r}\n",
			"1 docs entries have no curation (add them to catalog/curation.yaml): beta_error"},
		{"curation of unknown entry", curation + "  gamma_error: {category: billing, actor: developer, remediation: r}\n",
			"1 curated entries are not in the docs (remove or rename them): gamma_error"},
		{"invalid curation", strings.Replace(curation, "actor: developer", "actor: nobody", 1),
			`catalog entry "alpha_error": field "actor": "nobody" is not one of end_user, developer, account_admin`},
		{"duplicate curation key", curation + "  alpha_error: {category: billing, actor: developer, remediation: r}\n",
			`mapping key "alpha_error" already defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			docs, cur, out := filepath.Join(dir, "docs.txt"), filepath.Join(dir, "curation.yaml"), filepath.Join(dir, "catalog.json")
			writeFile(t, docs, page)
			writeFile(t, cur, tt.curation)
			writeFile(t, out, "previous\n")
			err := run([]string{"-docs", docs, "-curation", cur, "-out", out}, io.Discard)
			got, _ := os.ReadFile(out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if string(got) != "previous\n" {
					t.Fatal("output written despite the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("output:\n%s\nwant:\n%s", got, want)
			}
			// A second run is byte-identical.
			if err := run([]string{"-docs", docs, "-curation", cur, "-out", out}, io.Discard); err != nil {
				t.Fatal(err)
			}
			if again, _ := os.ReadFile(out); !bytes.Equal(again, got) {
				t.Fatal("second run differs")
			}
		})
	}
}

func TestModuleRootDefaults(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"schema/docs/errors-400.txt", "catalog/curation.yaml", "schema/catalog.json"} {
		if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
			t.Errorf("default input %s: %v", rel, err)
		}
	}
}

// TestDiff: a newer page that adds gamma_error, drops alpha_error and rewords beta_error's
// message is listed type by type, -n writes nothing, and without -n the regeneration runs
// (and here fails, naming the uncurated new type, after the diff was printed).
func TestDiff(t *testing.T) {
	dir := t.TempDir()
	docs, cur, out := filepath.Join(dir, "docs.txt"), filepath.Join(dir, "curation.yaml"), filepath.Join(dir, "catalog.json")
	writeFile(t, docs, page)
	writeFile(t, cur, curation)
	if err := run([]string{"-docs", docs, "-curation", cur, "-out", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var same bytes.Buffer
	if err := run([]string{"-docs", docs, "-curation", cur, "-out", out, "-diff", "-n"}, &same); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(same.String(), "0 added, 0 removed, 0 changed") {
		t.Errorf("same page: %s", same.String())
	}
	alpha := page[:strings.Index(page, "beta_error\n")]
	beta := page[len(alpha):]
	gamma := strings.NewReplacer("beta_error", "gamma_error", "Beta <failed>.", "Gamma failed.").Replace(beta)
	newer := strings.Replace(beta, `"Beta <failed>."`, `"Beta failed, see the new docs."`, 1) + "\n" + gamma
	newDocs := filepath.Join(dir, "newer.txt")
	writeFile(t, newDocs, "400 errors\n\n"+newer)
	before, _ := os.ReadFile(out)
	var b bytes.Buffer
	if err := run([]string{"-docs", newDocs, "-curation", cur, "-out", out, "-diff", "-n"}, &b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"1 added, 1 removed, 1 changed", "+ gamma_error (400)", "- alpha_error (400, request_validation)",
		"~ beta_error", "error_message", `new "Beta failed, see the new docs."`} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("-n wrote the catalog")
	}
	b.Reset()
	err := run([]string{"-docs", newDocs, "-curation", cur, "-out", out, "-diff"}, &b)
	if err == nil || !strings.Contains(err.Error(), "gamma_error") || !strings.Contains(b.String(), "+ gamma_error") {
		t.Errorf("regenerating after the diff: %v\n%s", err, b.String())
	}
	if err := run([]string{"-n"}, io.Discard); err == nil {
		t.Error("-n without -diff accepted")
	}
}
