package catalog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func loadBase(t *testing.T) *Catalog {
	t.Helper()
	c, err := Load(catalogPath, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGeneratedCatalogUpToDate fails when schema/catalog.json is not what the
// docs page and curation.yaml generate. Fix: go generate ./catalog
func TestGeneratedCatalogUpToDate(t *testing.T) {
	want, err := GenerateFiles(docsPath, curationPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(catalogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale (%d bytes, generated %d); run: go generate ./catalog", catalogPath, len(got), len(want))
	}
}

func TestEveryEntryCurated(t *testing.T) {
	c := loadBase(t)
	if c.Len() != 127 {
		t.Fatalf("catalog has %d entries, want 127", c.Len())
	}
	cats := categorySet()
	for _, e := range c.Entries() {
		if !cats[e.Category] || e.Remediation == "" || e.Actor == "" || e.Source != SourceDocs {
			t.Errorf("%s: category %q remediation %q actor %q source %q", e.ErrorType, e.Category, e.Remediation, e.Actor, e.Source)
		}
		if e.Description == "" || e.ErrorMessage == "" || e.ErrorURL == "" || e.StatusCode != 400 {
			t.Errorf("%s: incomplete docs fields: %+v", e.ErrorType, e)
		}
	}
}

func TestCuratedSpotChecks(t *testing.T) {
	c := loadBase(t)
	tests := []struct {
		errorType, category, actor string
		policy                     AlertPolicy
	}{
		{"billing_not_verified", "billing", ActorAdmin, AlertPolicy{Factor: 3, FloorPerMinute: 5, Severity: SeverityPage}},
		{"billing_not_verified_for_email", "billing", ActorAdmin, AlertPolicy{Factor: 3, FloorPerMinute: 5, Severity: SeverityTicket}},
		{"breached_password", "passwords", ActorEndUser, AlertPolicy{Factor: 3, FloorPerMinute: 5, Severity: SeverityTicket}},
		{"invalid_client_secret", "sso", ActorDeveloper, AlertPolicy{Factor: 3, FloorPerMinute: 5, Severity: SeverityTicket}},
		{"invalid_login_oauth_url", "redirect_urls", ActorDeveloper, AlertPolicy{Factor: 3, FloorPerMinute: 5, Severity: SeverityTicket}},
		{"invalid_authorization_header", "api_access", ActorDeveloper, AlertPolicy{Factor: 3, FloorPerMinute: 5, Severity: SeverityPage}},
		{"invalid_phpass_hash_format", "password_hashes", ActorDeveloper, AlertPolicy{Factor: 3, FloorPerMinute: 5, Severity: SeverityTicket}},
	}
	for _, tt := range tests {
		t.Run(tt.errorType, func(t *testing.T) {
			e, ok := c.Lookup(tt.errorType)
			if !ok {
				t.Fatal("not found")
			}
			if e.Category != tt.category || e.Actor != tt.actor {
				t.Errorf("category/actor = %s/%s, want %s/%s", e.Category, e.Actor, tt.category, tt.actor)
			}
			if p := c.Policy(tt.errorType); p != tt.policy {
				t.Errorf("Policy = %+v, want %+v", p, tt.policy)
			}
		})
	}
	if _, ok := c.Lookup("no_such_error"); ok {
		t.Error("Lookup(no_such_error) found an entry")
	}
	if p := c.Policy("no_such_error"); p != (AlertPolicy{Factor: 3, FloorPerMinute: 5, Severity: SeverityTicket}) {
		t.Errorf("Policy(unknown) = %+v", p)
	}
}

func TestCategoriesDocumented(t *testing.T) {
	cats := Categories()
	if len(cats) > 20 {
		t.Errorf("%d categories, the taxonomy should stay at most 20", len(cats))
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]int{}
	for _, e := range loadBase(t).Entries() {
		used[e.Category]++
	}
	seen := map[string]bool{}
	for _, c := range cats {
		if seen[c.Name] || c.Description == "" || !errorTypeRe.MatchString(c.Name) {
			t.Errorf("bad category %+v", c)
		}
		seen[c.Name] = true
		if used[c.Name] == 0 {
			t.Errorf("category %s has no entries", c.Name)
		}
		if !bytes.Contains(readme, []byte("`"+c.Name+"`")) {
			t.Errorf("category %s is not documented in catalog/README.md", c.Name)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	c := loadBase(t)
	// Build the key at run time so the lookup cannot be folded away.
	key := strings.Repeat("billing_not_verified", 1)
	var found bool
	allocs := testing.AllocsPerRun(1000, func() {
		_, found = c.Lookup(key)
	})
	if allocs != 0 || !found {
		t.Fatalf("Lookup: %v allocs/op (found=%v), want 0", allocs, found)
	}
}

func BenchmarkLookup(b *testing.B) {
	c, err := Load(catalogPath, "")
	if err != nil {
		b.Fatal(err)
	}
	keys := []string{"billing_not_verified", "invalid_phone_number", "no_such_error"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Lookup(keys[i%len(keys)])
	}
}

func TestEntriesIsACopy(t *testing.T) {
	c := loadBase(t)
	es := c.Entries()
	es[0].Category = "mutated"
	es[0].CommonCauses = append(es[0].CommonCauses, "x")
	if e, _ := c.Lookup(es[0].ErrorType); e.Category == "mutated" || len(e.CommonCauses) != 0 {
		t.Fatal("Entries shares memory with the catalog")
	}
}

func TestOverrides(t *testing.T) {
	base := loadBase(t).Entries()
	tests := []struct {
		name    string
		yaml    string
		wantErr string                // substring; "" means success
		check   func(*Catalog) string // returns a problem, or ""
	}{
		{
			name: "add new entry with another status code",
			yaml: `
entries:
  - error_type: rate_limit_exceeded
    status_code: 429
    category: api_access
    actor: developer
    remediation: Back off and retry.
    description: Too many requests.
    alert: {factor: 4, floor_per_minute: 50, severity: page}
`,
			check: func(c *Catalog) string {
				e, ok := c.Lookup("rate_limit_exceeded")
				if !ok || e.StatusCode != 429 || e.Source != SourceOverride || e.CommonCauses == nil {
					return "new entry missing or wrong"
				}
				if p := c.Policy("rate_limit_exceeded"); p != (AlertPolicy{4, 50, SeverityPage}) {
					return "policy not taken"
				}
				if c.Len() != 128 {
					return "want 128 entries"
				}
				return ""
			},
		},
		{
			name: "replace curation of a documented entry",
			yaml: `
entries:
  - error_type: invalid_email
    category: members
    actor: developer
    remediation: Validate emails client-side.
    description: Our wording.
    alert: {severity: page}
`,
			check: func(c *Catalog) string {
				e, _ := c.Lookup("invalid_email")
				if e.Category != "members" || e.Actor != ActorDeveloper || e.Remediation != "Validate emails client-side." ||
					e.Description != "Our wording." || e.Source != SourceOverride || c.Policy("invalid_email").Severity != SeverityPage {
					return "override not applied"
				}
				if e.ErrorMessage != "Email format is invalid." || e.StatusCode != 400 {
					return "docs facts lost"
				}
				return ""
			},
		},
		{
			name: "partial override keeps other fields",
			yaml: "entries:\n  - error_type: billing_not_verified\n    alert: {severity: ticket}\n",
			check: func(c *Catalog) string {
				e, _ := c.Lookup("billing_not_verified")
				if e.Actor != ActorAdmin || e.Category != "billing" || c.Policy(e.ErrorType).Severity != SeverityTicket {
					return "partial override wrong"
				}
				return ""
			},
		},
		{name: "empty file", yaml: "", check: func(c *Catalog) string { return "" }},
		{
			name:    "bad actor",
			yaml:    "entries:\n  - error_type: foo_bar\n    status_code: 400\n    category: billing\n    actor: nobody\n    remediation: x\n",
			wantErr: `catalog override "foo_bar": field "actor": "nobody" is not one of end_user, developer, account_admin`,
		},
		{
			name:    "unknown category on existing entry",
			yaml:    "entries:\n  - error_type: invalid_email\n    category: emails\n",
			wantErr: `catalog override "invalid_email": field "category": "emails" is not a catalog category`,
		},
		{
			name:    "new entry needs status_code",
			yaml:    "entries:\n  - error_type: foo_bar\n    category: billing\n    actor: developer\n    remediation: x\n",
			wantErr: `catalog override "foo_bar": field "status_code": is required`,
		},
		{
			name:    "new entry needs remediation",
			yaml:    "entries:\n  - error_type: foo_bar\n    status_code: 400\n    category: billing\n    actor: developer\n",
			wantErr: `catalog override "foo_bar": field "remediation": is required`,
		},
		{
			name:    "status code out of range",
			yaml:    "entries:\n  - error_type: foo_bar\n    status_code: 600\n    category: billing\n    actor: developer\n    remediation: x\n",
			wantErr: `catalog override "foo_bar": field "status_code": 600 is not an HTTP status code`,
		},
		{
			name:    "cannot change documented status code",
			yaml:    "entries:\n  - error_type: invalid_email\n    status_code: 422\n",
			wantErr: `catalog override "invalid_email": field "status_code"`,
		},
		{
			// The API's docs changed (what `query drift` prints): the entry follows the API.
			name: "documented message and URL follow the API",
			yaml: "entries:\n  - error_type: invalid_email\n    error_message: the new text\n    error_url: https://example.test/new\n",
			check: func(c *Catalog) string {
				e, _ := c.Lookup("invalid_email")
				if e.ErrorMessage != "the new text" || e.ErrorURL != "https://example.test/new" || e.Source != SourceOverride || e.Remediation == "" {
					return fmt.Sprintf("entry %+v", e)
				}
				return ""
			},
		},
		{
			name:    "bad error type",
			yaml:    "entries:\n  - error_type: Foo-Bar\n    status_code: 400\n    category: billing\n    actor: developer\n    remediation: x\n",
			wantErr: `catalog override "Foo-Bar": field "error_type": "Foo-Bar" does not match`,
		},
		{
			name:    "too long error type",
			yaml:    "entries:\n  - error_type: " + strings.Repeat("a", 129) + "\n    status_code: 400\n    category: billing\n    actor: developer\n    remediation: x\n",
			wantErr: `field "error_type"`,
		},
		{
			name:    "bad severity",
			yaml:    "entries:\n  - error_type: invalid_email\n    alert: {severity: sms}\n",
			wantErr: `catalog override "invalid_email": field "alert.severity": "sms" is not one of page, ticket`,
		},
		{
			name:    "factor must exceed 1",
			yaml:    "entries:\n  - error_type: invalid_email\n    alert: {factor: 1}\n",
			wantErr: `catalog override "invalid_email": field "alert.factor": 1 must be greater than 1`,
		},
		{
			name:    "negative floor",
			yaml:    "entries:\n  - error_type: invalid_email\n    alert: {floor_per_minute: -1}\n",
			wantErr: `catalog override "invalid_email": field "alert.floor_per_minute": -1 must be >= 0`,
		},
		{
			name:    "duplicate in overrides",
			yaml:    "entries:\n  - error_type: invalid_email\n    actor: end_user\n  - error_type: invalid_email\n    actor: developer\n",
			wantErr: `catalog override "invalid_email": field "error_type": duplicate`,
		},
		{
			name:    "unknown key",
			yaml:    "entries:\n  - error_type: invalid_email\n    remedation: typo\n",
			wantErr: `field remedation not found`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ovs, err := ParseOverrides(strings.NewReader(tt.yaml))
			var c *Catalog
			if err == nil {
				c, err = New(base, ovs)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(c); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}

func TestBaseValidation(t *testing.T) {
	good := Entry{ErrorType: "a_b", StatusCode: 400, Category: "billing", Actor: ActorDeveloper, Remediation: "r", Source: SourceDocs}
	tests := []struct {
		name    string
		mutate  func(*Entry)
		wantErr string
	}{
		{"ok", func(*Entry) {}, ""},
		{"status low", func(e *Entry) { e.StatusCode = 99 }, `catalog entry "a_b": field "status_code"`},
		{"no remediation", func(e *Entry) { e.Remediation = "  " }, `catalog entry "a_b": field "remediation": is empty`},
		{"bad source", func(e *Entry) { e.Source = "wiki" }, `catalog entry "a_b": field "source"`},
		{"bad actor", func(e *Entry) { e.Actor = "ops" }, `catalog entry "a_b": field "actor": "ops" is not one of end_user, developer, account_admin`},
		{"empty type", func(e *Entry) { e.ErrorType = "" }, `catalog entry #0: field "error_type": is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.mutate(&e)
			_, err := New([]Entry{e}, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := New([]Entry{good, good}, nil); err == nil || !strings.Contains(err.Error(), `catalog entry "a_b": field "error_type": duplicate`) {
		t.Fatalf("duplicate base entry: err = %v", err)
	}
}

func TestVersion(t *testing.T) {
	base := loadBase(t)
	again := loadBase(t)
	if base.Version() != again.Version() {
		t.Fatalf("version not stable: %s vs %s", base.Version(), again.Version())
	}
	if !regexp.MustCompile(`^c1-[0-9a-f]{12}$`).MatchString(base.Version()) {
		t.Fatalf("version %q has the wrong shape", base.Version())
	}
	entries := base.Entries()
	version := func(t *testing.T, ovs []Override) string {
		t.Helper()
		c, err := New(entries, ovs)
		if err != nil {
			t.Fatal(err)
		}
		return c.Version()
	}
	tests := []struct {
		name    string
		ovs     []Override
		changes bool
	}{
		{"no overrides", nil, false},
		{"empty overrides", []Override{}, false},
		{"remediation", []Override{{ErrorType: "invalid_email", Remediation: "other"}}, true},
		{"alert", []Override{{ErrorType: "invalid_email", Alert: &AlertPolicy{Severity: SeverityPage}}}, true},
		{"new entry", []Override{{ErrorType: "x", StatusCode: 500, Category: "billing", Actor: ActorAdmin, Remediation: "r"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := version(t, tt.ovs)
			if (v != base.Version()) != tt.changes {
				t.Fatalf("version %s vs base %s, want changed=%v", v, base.Version(), tt.changes)
			}
			if v2 := version(t, tt.ovs); v2 != v {
				t.Fatalf("not stable: %s then %s", v, v2)
			}
		})
	}
	// Input order of base entries must not matter.
	rev := make([]Entry, len(entries))
	for i, e := range entries {
		rev[len(entries)-1-i] = e
	}
	c, err := New(rev, nil)
	if err != nil || c.Version() != base.Version() {
		t.Fatalf("reversed input: %v %v", err, c)
	}
}

func TestLoadWithOverridesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "overrides.yaml")
	if err := os.WriteFile(p, []byte("entries:\n  - error_type: invalid_email\n    actor: nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(catalogPath, p)
	if err == nil || !strings.Contains(err.Error(), `catalog override "invalid_email": field "actor"`) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(catalogPath, filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing overrides file accepted")
	}
	if _, err := Load(filepath.Join(dir, "missing.json"), ""); err == nil {
		t.Fatal("missing base accepted")
	}
}

func TestBuildReportsCurationMismatch(t *testing.T) {
	docs := []DocEntry{{ErrorType: "a", StatusCode: 400, ErrorMessage: "m"}, {ErrorType: "b", StatusCode: 400, ErrorMessage: "m"}}
	cur := map[string]Curation{
		"a": {Category: "billing", Actor: ActorAdmin, Remediation: "r"},
		"z": {Category: "billing", Actor: ActorAdmin, Remediation: "r"},
	}
	_, err := Build(docs, cur)
	if err == nil || !strings.Contains(err.Error(), "have no curation (add them to catalog/curation.yaml): b") ||
		!strings.Contains(err.Error(), "not in the docs (remove or rename them): z") {
		t.Fatalf("err = %v", err)
	}
	cur = map[string]Curation{"a": {Category: "billing", Actor: "x", Remediation: "r"}, "b": {Category: "billing", Actor: ActorAdmin, Remediation: "r"}}
	if _, err := Build(docs, cur); err == nil || !strings.Contains(err.Error(), `catalog entry "a": field "actor"`) {
		t.Fatalf("invalid curation: err = %v", err)
	}
}
