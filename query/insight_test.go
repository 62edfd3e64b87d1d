package query

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
)

const driftMessage = "The API's new wording, with a 'quote' and a \\ backslash."

// addDrift plants events of a catalog type whose message or URL differ from its entry, as
// the ingester flags them, 2-3 hours ago (outside the spike window).
func (fx *fixture) addDrift(e catalog.Entry) {
	fx.drifty = e.ErrorType
	mk := func(i int, ts time.Time) fxEvent {
		return fxEvent{t: ts, typ: e.ErrorType, env: "live", org: "org-drift", proj: "proj-live", category: e.Category, actor: e.Actor,
			status: uint16(e.StatusCode), known: true, requestID: "req-drift-" + ts.Format("150405"), message: e.ErrorMessage, url: e.ErrorURL}
	}
	from, to := fixtureNow.Add(-3*time.Hour), fixtureNow.Add(-2*time.Hour)
	for _, ev := range spread(8, from, to, mk) {
		ev.message, ev.flags = driftMessage, []string{"message_mismatch"}
		fx.events = append(fx.events, ev)
	}
	for _, ev := range spread(3, from, to, mk) {
		ev.url, ev.flags = "https://docs.example.test/new#"+e.ErrorType, []string{"url_mismatch", "f1"}
		fx.events = append(fx.events, ev)
	}
	// Flagged against an older catalog, the same as the catalog table now: not drift.
	for _, ev := range spread(6, from, to, mk) {
		ev.flags = []string{"message_mismatch"}
		fx.events = append(fx.events, ev)
	}
}

func baseCatalog(t *testing.T) []catalog.Entry {
	t.Helper()
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	return cat.Entries()
}

// loadsAsOverrides checks that yaml is a valid overrides file on top of the base catalog and
// returns the merged catalog.
func loadsAsOverrides(t *testing.T, yaml []byte) *catalog.Catalog {
	t.Helper()
	ovs, err := catalog.ParseOverrides(bytes.NewReader(yaml))
	if err != nil {
		t.Fatalf("generated overrides do not parse: %v\n%s", err, yaml)
	}
	c, err := catalog.New(baseCatalog(t), ovs)
	if err != nil {
		t.Fatalf("generated overrides do not load: %v\n%s", err, yaml)
	}
	return c
}

func testDrift(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	rows, cutShort, err := c.Drift(ctx, day(Filter{}), 5)
	if err != nil || cutShort {
		t.Fatal(err, cutShort)
	}
	want := fx.catalog[4]
	if len(rows) != 1 {
		t.Fatalf("drift rows %+v, want one", rows)
	}
	d := rows[0]
	if d.ErrorType != fx.drifty || d.ErrorMessage != driftMessage || d.Count != 8 || !d.MessageChanged || d.URLChanged ||
		d.CatalogMessage != want.ErrorMessage || !d.FirstSeen.Equal(fixtureNow.Add(-3*time.Hour).Add(225*time.Second).Truncate(time.Second)) {
		t.Errorf("drift row %+v", d)
	}
	rows, _, err = c.Drift(ctx, day(Filter{}), 1)
	if err != nil || len(rows) != 2 || !rows[1].URLChanged || rows[1].MessageChanged || rows[1].Count != 3 {
		t.Fatalf("drift with min count 1: %+v %v", rows, err)
	}
	y, err := DriftOverrides(rows)
	if err != nil {
		t.Fatal(err)
	}
	merged := loadsAsOverrides(t, y)
	if e, _ := merged.Lookup(fx.drifty); e.ErrorMessage != driftMessage || e.ErrorURL != rows[1].ErrorURL || e.Remediation != want.Remediation {
		t.Errorf("entry after the override: %+v\n%s", e, y)
	}
	for _, f := range []Filter{{Org: "x' OR 1=1 --"}, {Env: "test"}} {
		if none, _, err := c.Drift(ctx, day(f), 1); err != nil || len(none) != 0 {
			t.Errorf("drift %+v: %+v %v", f, none, err)
		}
	}
}

func testUnknownDrafts(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	rows, _, err := c.Unknown(ctx, Filter{Since: fixtureNow.Add(-7 * 24 * time.Hour), Until: fixtureNow})
	if err != nil {
		t.Fatal(err)
	}
	known, err := c.KnownEntries(ctx)
	if err != nil || len(known) != len(fx.catalog) || known[0].Category == "" || known[0].Actor == "" {
		t.Fatalf("known entries %+v %v", known, err)
	}
	y, err := UnknownDrafts(rows, known)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(y), "# DRAFT for review"); n != len(rows) || !strings.Contains(string(y), "remediation: 'DRAFT:") {
		t.Errorf("drafts not marked (%d markers for %d types):\n%s", n, len(rows), y)
	}
	merged := loadsAsOverrides(t, y)
	for _, r := range rows {
		e, ok := merged.Lookup(r.ErrorType)
		if !ok || e.Source != catalog.SourceOverride || e.StatusCode != int(r.StatusCode) || e.ErrorMessage != r.SampleMessage {
			t.Errorf("draft of %s: %+v", r.ErrorType, e)
		}
	}
}

func testIncident(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	inc, err := c.Incident(ctx, Filter{Since: fixtureNow.Add(-time.Hour), Until: fixtureNow}, DefaultSpikeParams(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(inc.Spikes) != 1 || inc.Spikes[0].ErrorType != fx.spiky || inc.Total != 61 || len(inc.Scope) != 1 {
		t.Fatalf("incident %+v", inc)
	}
	sp := inc.Spikes[0]
	if sp.Remediation != fx.catalog[0].Remediation || !sp.FirstSeen.Equal(fixtureNow.Add(-time.Hour).Add(30*time.Second)) ||
		!sp.LastSeen.Before(fixtureNow) || sp.LastSeen.Before(sp.FirstSeen) {
		t.Errorf("spike %+v", sp)
	}
	if len(inc.Orgs) != 1 || inc.Orgs[0].OrganizationID != "org-acme" || inc.Orgs[0].Count != 61 ||
		len(inc.Envs) != 1 || inc.Envs[0].Environment != "live" || inc.Envs[0].Share != 1 {
		t.Errorf("orgs %+v envs %+v", inc.Orgs, inc.Envs)
	}
	if inc.Trend == nil || inc.Trend.All.Total != 61 || len(inc.Trend.Types) != 1 || inc.Trend.Types[0].ErrorType != fx.spiky || inc.Trend.Bucket != time.Minute {
		t.Errorf("trend %+v", inc.Trend)
	}
	hostile, err := c.Incident(ctx, Filter{Since: fixtureNow.Add(-time.Hour), Until: fixtureNow, Org: "org-acme' OR 1=1 --"}, DefaultSpikeParams(), 5)
	if err != nil || len(hostile.Spikes) != 0 || hostile.Total != 0 || len(hostile.Orgs) != 0 || hostile.Trend != nil {
		t.Errorf("hostile org: %+v %v", hostile, err)
	}
	// Windows past 18h (the default 6h baseline would not fit in a day beside them) and past
	// a day: the baseline is fitted and said, the planted spike still counts in the window.
	for _, tc := range []struct {
		since     time.Duration
		preceding time.Duration
		days      int
	}{{20 * time.Hour, 4 * time.Hour, 7}, {30 * time.Hour, 30 * time.Hour, 0}} {
		long, err := c.Incident(ctx, Filter{Since: fixtureNow.Add(-tc.since), Until: fixtureNow}, DefaultSpikeParams(), 5)
		if err != nil {
			t.Fatalf("incident --since %s: %v", tc.since, err)
		}
		if p := long.Judged.Params; p.Window != tc.since || p.Preceding != tc.preceding || p.Days != tc.days || long.BaselineNote == "" ||
			long.Baseline == 0 || long.Total == 0 {
			t.Errorf("incident --since %s: params %+v, note %q, baseline %s, total %d", tc.since, p, long.BaselineNote, long.Baseline, long.Total)
		}
	}
	// A quiet hour a day ago: no spike, so the summary covers every type.
	quiet, err := c.Incident(ctx, Filter{Since: fixtureNow.Add(-25 * time.Hour), Until: fixtureNow.Add(-24 * time.Hour)}, DefaultSpikeParams(), 5)
	if err != nil {
		t.Fatal(err)
	}
	all := fx.refCount(fixtureNow.Add(-25*time.Hour), fixtureNow.Add(-24*time.Hour), func(fxEvent) bool { return true })
	var total uint64
	for _, n := range all {
		total += n
	}
	if len(quiet.Spikes) != 0 || len(quiet.Scope) != 0 || quiet.Total != total || quiet.Trend.All.Total != total || len(quiet.Envs) != 2 {
		t.Errorf("quiet incident %+v (want %d events)", quiet, total)
	}
}
