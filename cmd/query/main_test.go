package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, false)
	return out.String(), errOut.String(), code
}

func TestVersionOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"top", "--version"}, {"spikes", "--version"}, {"orgs", "--version"}} {
		out, stderr, code := runCLI(t, args...)
		if code != 0 || !strings.HasPrefix(out, "query version ") || !strings.Contains(out, "commit ") {
			t.Errorf("%v: exit %d, out %q, stderr %q", args, code, out, stderr)
		}
	}
}

// TestCLI runs the commands against clickhouse-server 18.16 as the read-only user; the
// query package's tests check every number on both ClickHouses, this checks the command line.
func TestCLI(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.SyncCatalog(ctx, ch.Conn, ch.Database, cat); err != nil {
		t.Fatal(err)
	}
	entry := cat.Entries()[0]
	typ := entry.ErrorType
	t.Setenv("FAULTLINE_CLICKHOUSE_ADDR", ch.Addr)
	t.Setenv("FAULTLINE_CLICKHOUSE_DATABASE", ch.Database)
	// No user set: the CLI connects as query.username's default, the read-only faultline_ro.

	// Empty database: said plainly, exit 0, valid JSON.
	out, _, code := runCLI(t, "top")
	if code != 0 || !strings.HasPrefix(out, "no events between ") {
		t.Errorf("empty top: %d %q", code, out)
	}
	out, stderr, code := runCLI(t, "top", "--format", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" || !strings.Contains(stderr, "no events between") {
		t.Errorf("empty top json: %d %q %q", code, out, stderr)
	}

	now := time.Now().UTC().Truncate(time.Second)
	batch, err := ch.Conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".events (event_time, status_code, error_type, request_id, error_message, environment, category, actor, known, organization_id, project_id)")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		org := "org-a"
		if i%3 == 0 {
			org = "org-b"
		}
		if err := batch.Append(now.Add(-time.Duration(i+1)*time.Minute), uint16(400), typ, "req-"+string(rune('a'+i%26)),
			"bad key", "live", entry.Category, entry.Actor, uint8(1), org, "p1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Append(now.Add(-5*time.Minute), uint16(404), "brand_new_error", "req-new", "what's this", "test", "unknown", "unknown", uint8(0), "org-c", "p2"); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	// Drift: the API sends typ with a new message; and an organization ID out to break Markdown.
	const evilOrg = "org-`x`|*[evil](http://e.test)\x1b[31m"
	batch, err = ch.Conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".events (event_time, status_code, error_type, request_id, error_message, environment, category, actor, known, organization_id, project_id, flags)")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if err := batch.Append(now.Add(-time.Duration(i+2)*time.Minute), uint16(400), typ, "req-drift", "The new docs' text.", "live",
			entry.Category, entry.Actor, uint8(1), evilOrg, "p1", []string{"message_mismatch"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}

	out, _, code = runCLI(t, "top", "--format", "json", "--since", "2h")
	var top []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &top) != nil || len(top) != 2 {
		t.Fatalf("top json: %d %s", code, out)
	}
	for _, k := range []string{"error_type", "count", "share", "previous_count", "change", "category", "actor", "remediation"} {
		if _, ok := top[0][k]; !ok {
			t.Errorf("top json lacks %s: %v", k, top[0])
		}
	}
	if top[0]["error_type"] != typ || top[0]["count"] != 36.0 || top[0]["remediation"] == "" || top[0]["known"] != true {
		t.Errorf("top json first row %v", top[0])
	}

	out, _, code = runCLI(t, "top", "--format", "csv", "--env", "test")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(recs) != 2 || recs[0][0] != "error_type" || recs[1][0] != "brand_new_error" || recs[1][1] != "1" {
		t.Errorf("top csv: %d %v %q", code, err, out)
	}

	out, _, code = runCLI(t, "top")
	if code != 0 || !strings.Contains(out, "ERROR TYPE") || !strings.Contains(out, typ) || strings.Contains(out, "\x1b[") {
		t.Errorf("top table: %d\n%s", code, out)
	}

	// Pictures: --out draws the same result into a PNG or an SVG.
	dir := t.TempDir()
	for _, c := range []struct {
		args  []string
		file  string
		sniff string
	}{
		{[]string{"trend", "--since", "1h"}, "trend.png", "image/png"},
		{[]string{"top", "--since", "2h"}, "top.svg", "text/xml; charset=utf-8"},
	} {
		path := filepath.Join(dir, c.file)
		out, stderr, code := runCLI(t, append(c.args, "--out", path)...)
		b, err := os.ReadFile(path)
		if code != 0 || err != nil || !strings.Contains(stderr, "chart written to "+path) || !strings.Contains(out, typ) {
			t.Fatalf("%v --out %s: exit %d, %v, stderr %q, out %q", c.args, path, code, err, stderr, out)
		}
		if got := http.DetectContentType(b); got != c.sniff || len(b) < 2000 {
			t.Errorf("%s: %d bytes sniffed as %q, want %q", c.file, len(b), got, c.sniff)
		}
		if c.file == "top.svg" && !strings.Contains(string(b), "<svg") {
			t.Errorf("top.svg is not an SVG: %.200s", b)
		}
	}
	if _, stderr, code := runCLI(t, "top", "--out", filepath.Join(dir, "top.jpg")); code == 0 || !strings.Contains(stderr, ".png or .svg") {
		t.Errorf("top --out top.jpg: exit %d, %q", code, stderr)
	}
	if _, stderr, code := runCLI(t, "trend", "--since", "1h", "--env", "nowhere", "--out", filepath.Join(dir, "empty.png")); code != 0 || !strings.Contains(stderr, "not written") {
		t.Errorf("empty trend --out: exit %d, %q", code, stderr)
	}

	for _, args := range [][]string{
		{"trend", "--since", "1h"}, {"trend", "--since", "1h", "--format", "csv"}, {"spikes"}, {"show", "req-new"},
		{"explain", typ}, {"unknown"}, {"quarantine"}, {"orgs", "--error-type", typ},
		{"orgs", "--category", entry.Category, "--format", "json"}, {"top", "--org", "x' OR 1=1 --"},
		{"incident"}, {"incident", "--format", "markdown"}, {"incident", "--format", "csv"}, {"drift"}, {"unknown", "--drafts"},
		{"drift", "--format", "csv"},
	} {
		out, stderr, code := runCLI(t, args...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
		t.Logf("%v:\n%s%s", args, out, stderr)
	}
	out, _, _ = runCLI(t, "top", "--org", "x' OR 1=1 --")
	if !strings.HasPrefix(out, "no events between") {
		t.Errorf("hostile org: %q", out)
	}
	out, _, _ = runCLI(t, "unknown", "--format", "json")
	if !strings.Contains(out, `"brand_new_error"`) || strings.Contains(out, typ) {
		t.Errorf("unknown: %s", out)
	}

	// drift, its override entries, unknown's drafts.
	out, _, code = runCLI(t, "drift")
	if code != 0 || !strings.Contains(out, typ) || !strings.Contains(out, "The new docs' text.") {
		t.Errorf("drift: %d\n%s", code, out)
	}
	out, _, code = runCLI(t, "drift", "--overrides")
	if ovs, err := catalog.ParseOverrides(strings.NewReader(out)); code != 0 || err != nil || len(ovs) != 1 || ovs[0].ErrorMessage != "The new docs' text." {
		t.Errorf("drift --overrides: %d %v\n%s", code, err, out)
	} else if _, err := catalog.New(cat.Entries(), ovs); err != nil {
		t.Errorf("drift --overrides do not load: %v", err)
	}
	out, _, code = runCLI(t, "unknown", "--drafts")
	if ovs, err := catalog.ParseOverrides(strings.NewReader(out)); code != 0 || err != nil || len(ovs) != 1 || ovs[0].ErrorType != "brand_new_error" ||
		ovs[0].StatusCode != 404 || !strings.Contains(out, "# DRAFT for review") {
		t.Errorf("unknown --drafts: %d %v\n%s", code, err, out)
	}
	// incident: table, markdown (inert: the evil org is escaped), json. The window holds every
	// event above and nothing is before it, whatever the clock: no baseline to judge spikes.
	incUntil := now.Truncate(time.Minute).Add(time.Minute)
	win := []string{"--since", incUntil.Add(-45 * time.Minute).Format(time.RFC3339), "--until", incUntil.Format(time.RFC3339)}
	out, _, code = runCLI(t, append([]string{"incident"}, win...)...)
	if code != 0 || !strings.Contains(out, "Incident summary") || !strings.Contains(out, "Spikes cannot be judged") || !strings.Contains(out, "ENVIRONMENT") ||
		!strings.Contains(out, "faultline-overview") {
		t.Errorf("incident: %d\n%s", code, out)
	}
	out, _, code = runCLI(t, append([]string{"incident", "--format", "markdown", "--runbook-url", "https://wiki.example.test/oncall"}, win...)...)
	if code != 0 || !strings.HasPrefix(out, "### Incident summary") || !strings.Contains(out, "| organization | events | share |") ||
		strings.Contains(out, "\x1b") || strings.Contains(out, "[evil](") || !strings.Contains(out, `\[evil\]`) ||
		!strings.Contains(out, "(<https://wiki.example.test/oncall>)") {
		t.Errorf("incident markdown: %d\n%s", code, out)
	}
	// Past 18h the default 6h baseline does not fit in a day beside the window: it is fitted
	// and the summary says how.
	for _, c := range []struct{ since, want string }{{"20h", "cut from 6h0m0s to 4h0m0s"}, {"2d", "judged against the 48h0m0s before it only"}} {
		out, stderr, code := runCLI(t, "incident", "--since", c.since)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("incident --since %s: exit %d, stderr %q, out:\n%s", c.since, code, stderr, out)
		}
	}
	var inc map[string]any
	out, _, code = runCLI(t, append([]string{"incident", "--format", "json"}, win...)...)
	if code != 0 || json.Unmarshal([]byte(out), &inc) != nil || inc["total"] != 37.0 || inc["trend"] == nil {
		t.Errorf("incident json: %d %s", code, out)
	}

	// An event without organization and the catalog's longest error type (67 characters).
	long := "invalid_organization_auth_factor_setting_for_email_jit_provisioning"
	batch, err = ch.Conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".events (event_time, status_code, error_type, request_id, error_message, environment, category, actor, known, organization_id, project_id)")
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Append(now.Add(-2*time.Minute), uint16(400), typ, "req-noorg", "bad key", "live", entry.Category, entry.Actor, uint8(1), "", "p1"); err != nil {
		t.Fatal(err)
	}
	if err := batch.Append(now.Add(-2*time.Minute), uint16(400), long, "req-long", "x", "live", entry.Category, entry.Actor, uint8(1), "org-a", "p1"); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"orgs", "--error-type", typ}, {"explain", typ}, {"show", "req-noorg"}} {
		out, _, _ = runCLI(t, args...)
		if !strings.Contains(out, noOrganization) {
			t.Errorf("%v does not name the missing organization %q:\n%s", args, noOrganization, out)
		}
	}
	out, _, _ = runCLI(t, "orgs", "--error-type", typ, "--format", "csv")
	if strings.Contains(out, noOrganization) || !strings.Contains(out, "\n,1,") {
		t.Errorf("orgs csv must keep the stored empty organization_id:\n%s", out)
	}
	out, _, _ = runCLI(t, "top", "--since", "2h")
	lines := strings.Split(out, "\n")
	var header string
	for _, l := range lines {
		if strings.HasPrefix(l, "ERROR TYPE") {
			header = l
		}
	}
	if w := strings.Index(header, "COUNT"); w < 0 || w > maxTypeWidth+2+5 {
		t.Errorf("ERROR TYPE column is %d wide, want at most the %d-character name bound:\n%s", w, maxTypeWidth, out)
	}
	if strings.Contains(out, long) || !strings.Contains(out, "invalid_organizati") || !strings.Contains(out, fullNamesHint) {
		t.Errorf("top table does not shorten %s with a note:\n%s", long, out)
	}
	out, _, _ = runCLI(t, "top", "--since", "2h", "--format", "csv")
	if !strings.Contains(out, long+",") {
		t.Errorf("top csv lost the full name %s:\n%s", long, out)
	}

	// Wrong input: non-zero exit with a message naming the problem.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "--format", "xml"}, `--format "xml"`},
		{[]string{"top", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"top", "--since", "yesterday"}, "--since"},
		{[]string{"top", "--since", "1h", "--until", "2h"}, "is not after"},
		{[]string{"top", "--status", "99"}, "--status 99"},
		{[]string{"top", "--tz", "Mars/Olympus"}, "--tz"},
		{[]string{"quarantine", "--env", "live"}, "--env does not apply to quarantine"},
		{[]string{"spikes", "--since", "1h"}, "--since does not apply"},
		{[]string{"spikes", "--window", "30s"}, "window"},
		{[]string{"orgs"}, "--error-type or --category"},
		{[]string{"show"}, "accepts 1 arg"},
		{[]string{"explain", "no_such_type"}, "not in the catalog"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"top", "--format", "markdown"}, "only applies to incident"},
		{[]string{"unknown", "--drafts", "--format", "json"}, "--drafts prints YAML"},
		{[]string{"drift", "--overrides", "--format", "csv"}, "--overrides prints YAML"},
		{[]string{"incident", "--format", "xml"}, "csv or markdown"},
		{[]string{"incident", "--grafana-url", "not a url"}, "--grafana-url"},
	} {
		_, stderr, code := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want non-zero and %q", c.args, code, stderr, c.want)
		}
	}

	// Unreachable ClickHouse: the address is named.
	port := testenv.FreePort(t)
	addr := "127.0.0.1:" + itoa(port)
	t.Setenv("FAULTLINE_CLICKHOUSE_ADDR", addr)
	t.Setenv("FAULTLINE_CLICKHOUSE_DIAL_TIMEOUT", "1s")
	_, stderr, code = runCLI(t, "top")
	if code == 0 || !strings.Contains(stderr, "clickhouse at "+addr) {
		t.Errorf("unreachable: exit %d, %q", code, stderr)
	}
}

// TestCLIOverTLS reads from a ClickHouse that wants TLS and passwords, as the read-only
// user with its own password; the writer's password is not what the CLI uses.
func TestCLIOverTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	srv := testenv.StartClickHouseTLSServer(t, ca)
	admin := srv.Admin(t)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(admin), "faultline"); err != nil {
		t.Fatal(err)
	}
	if err := admin.Exec(ctx, "INSERT INTO faultline.events (event_time, status_code, error_type, request_id, environment, known) SELECT now() - 60, 400, 'invalid_api_key', 'req-tls', 'live', 1"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAULTLINE_CLICKHOUSE_ADDR", srv.SecureAddr)
	t.Setenv("FAULTLINE_CLICKHOUSE_TLS_ENABLED", "true")
	t.Setenv("FAULTLINE_CLICKHOUSE_TLS_CA_FILE", ca.CertFile)
	t.Setenv("FAULTLINE_CLICKHOUSE_PASSWORD", srv.WriterPassword)

	_, stderr, code := runCLI(t, "top", "--since", "1h")
	if code == 0 || !strings.Contains(stderr, "clickhouse at "+srv.SecureAddr) || !strings.Contains(stderr, `user "faultline_ro"`) ||
		!strings.Contains(stderr, "FAULTLINE_QUERY_PASSWORD") {
		t.Fatalf("without the reader's password: exit %d, %q", code, stderr)
	}

	t.Setenv("FAULTLINE_QUERY_PASSWORD", srv.ReaderPassword)
	out, stderr, code := runCLI(t, "top", "--since", "1h", "--format", "json")
	if code != 0 || !strings.Contains(out, `"invalid_api_key"`) {
		t.Fatalf("top over TLS: exit %d, %q, %q", code, out, stderr)
	}

	t.Setenv("FAULTLINE_CLICKHOUSE_TLS_ENABLED", "false")
	t.Setenv("FAULTLINE_CLICKHOUSE_TLS_CA_FILE", "")
	_, stderr, code = runCLI(t, "top")
	if code == 0 || !strings.Contains(stderr, "clickhouse at "+srv.SecureAddr) || !strings.Contains(stderr, "clickhouse.tls.enabled") {
		t.Fatalf("plaintext to the TLS port: exit %d, %q", code, stderr)
	}
}

func itoa(i int) string {
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func TestSparkline(t *testing.T) {
	cases := []struct {
		in   []uint64
		want string
	}{
		{[]uint64{0, 1, 2, 4, 8}, " ▁▂▄█"},
		{[]uint64{0, 0}, "  "},
		{[]uint64{1, 1000}, "▁█"},
		{[]uint64{5}, "█"},
	}
	for _, c := range cases {
		if got := sparkline(c.in); got != c.want {
			t.Errorf("sparkline(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	d, k := downsample([]uint64{1, 2, 3, 4, 5}, 2)
	if k != 3 || len(d) != 2 || d[0] != 6 || d[1] != 9 {
		t.Errorf("downsample = %v %d", d, k)
	}
}

func TestLabels(t *testing.T) {
	for _, c := range []struct{ id, want string }{{"", "(none)"}, {"org-1", "org-1"}} {
		if got := orgLabel(c.id); got != c.want {
			t.Errorf("orgLabel(%q) = %q, want %q", c.id, got, c.want)
		}
	}
	for _, c := range []struct {
		name, want string
		cut        bool
	}{
		{"billing_not_verified", "billing_not_verified", false},
		{strings.Repeat("a", 40), strings.Repeat("a", 40), false},
		{"invalid_organization_auth_factor_setting_for_email_jit_provisioning", "invalid_organizatio…ail_jit_provisioning", true},
		{"", "", false},
	} {
		got, cut := typeLabel(c.name)
		if got != c.want || cut != c.cut {
			t.Errorf("typeLabel(%q) = %q, %v; want %q, %v", c.name, got, cut, c.want, c.cut)
		}
		if n := len([]rune(got)); n > maxTypeWidth {
			t.Errorf("typeLabel(%q) is %d runes", c.name, n)
		}
	}
}

func TestTableAlignment(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out, tty: true}
	a.writeTable(table{header: []string{"NAME", "N"}, rows: [][]string{{"é", "10"}, {"long name", "2"}}, right: map[int]bool{1: true},
		paint: func(int, int) string { return ansiRed }})
	plain := stripANSI(out.String())
	want := "NAME        N\né          10\nlong name   2\n"
	if plain != want {
		t.Errorf("table:\n%q\nwant\n%q", plain, want)
	}
	if !strings.Contains(out.String(), ansiRed) {
		t.Error("no color on a terminal")
	}
	out.Reset()
	a.tty = false
	a.writeTable(table{header: []string{"A"}, rows: [][]string{{"x"}}, paint: func(int, int) string { return ansiRed }})
	if strings.Contains(out.String(), "\x1b") {
		t.Error("color without a terminal")
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
