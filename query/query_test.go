package query

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
)

// now pins the clock of every fixture test.
var fixtureNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type fxEvent struct {
	t                   time.Time
	typ, env, org, proj string
	category, actor     string
	status              uint16
	known               bool
	requestID, message  string
	url                 string   // "" means https://example.test/<type>
	flags               []string // nil means ["f1"]
}

// fixture is a data set of known answers, planted identically in both ClickHouses.
type fixture struct {
	events  []fxEvent
	catalog []catalog.Entry
	// error types by role
	spiky, steady, tiny, moderate, mystery, lateKnown, drifty string
}

// spread puts n events evenly in [from, to).
func spread(n int, from, to time.Time, mk func(i int, t time.Time) fxEvent) []fxEvent {
	var out []fxEvent
	step := to.Sub(from) / time.Duration(n)
	for i := 0; i < n; i++ {
		out = append(out, mk(i, from.Add(time.Duration(i)*step+step/2).Truncate(time.Second)))
	}
	return out
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	all := cat.Entries()
	fx := &fixture{catalog: all[:5]}
	fx.spiky, fx.steady, fx.moderate, fx.lateKnown = all[0].ErrorType, all[1].ErrorType, all[2].ErrorType, all[3].ErrorType
	fx.tiny, fx.mystery = "tiny_burst_error", "mystery_error"
	entry := map[string]catalog.Entry{}
	for _, e := range fx.catalog {
		entry[e.ErrorType] = e
	}
	mk := func(typ, org, env string) func(int, time.Time) fxEvent {
		return func(i int, ts time.Time) fxEvent {
			e := fxEvent{t: ts, typ: typ, env: env, org: org, proj: "proj-" + env, status: 400, known: true,
				requestID: typ + "-" + ts.Format("0102150405"), message: "message of " + typ}
			if ce, ok := entry[typ]; ok && typ != fx.lateKnown {
				e.category, e.actor = ce.Category, ce.Actor
			} else {
				e.known, e.category, e.actor = false, "unknown", "unknown"
			}
			return e
		}
	}
	w := fixtureNow.Add(-time.Hour)
	segments := [][2]time.Time{{w.Add(-6 * time.Hour), w}}
	for d := 1; d <= 7; d++ {
		back := time.Duration(d) * 24 * time.Hour
		segments = append(segments, [2]time.Time{w.Add(-back), fixtureNow.Add(-back)})
	}
	add := func(n int, from, to time.Time, f func(int, time.Time) fxEvent) {
		fx.events = append(fx.events, spread(n, from, to, f)...)
	}
	// spiky: 1 an hour in the baseline, 60 in the last hour.
	add(60, w, fixtureNow, mk(fx.spiky, "org-acme", "live"))
	for _, s := range segments {
		add(int(s[1].Sub(s[0]).Hours()), s[0], s[1], mk(fx.spiky, "org-acme", "live"))
	}
	// steady: 100 an hour everywhere, over four orgs and two environments.
	steady := func(i int, ts time.Time) fxEvent {
		env := []string{"live", "test"}[i%2]
		return mk(fx.steady, []string{"org-1", "org-2", "org-3", "org-4"}[i%4], env)(i, ts)
	}
	add(100, w, fixtureNow, steady)
	for _, s := range segments {
		add(100*int(s[1].Sub(s[0]).Hours()), s[0], s[1], steady)
	}
	// tiny: 3 events in the last hour, none before.
	add(3, w, fixtureNow, mk(fx.tiny, "org-tiny", "live"))
	// moderate: 10 an hour in the baseline, 25 now (ratio below 3).
	add(25, w, fixtureNow, mk(fx.moderate, "org-2", "live"))
	for _, s := range segments {
		add(10*int(s[1].Sub(s[0]).Hours()), s[0], s[1], mk(fx.moderate, "org-2", "live"))
	}
	// mystery: unknown type, 5 events in the last 2 hours and 2 a day earlier.
	add(5, fixtureNow.Add(-2*time.Hour), fixtureNow, mk(fx.mystery, "org-3", "live"))
	add(2, fixtureNow.Add(-30*time.Hour), fixtureNow.Add(-29*time.Hour), mk(fx.mystery, "org-3", "live"))
	// lateKnown: stored as unknown, in the catalog table now.
	add(4, fixtureNow.Add(-3*time.Hour), fixtureNow, mk(fx.lateKnown, "org-4", "test"))
	// One request with two events: a catalog type and an unknown one.
	r1 := mk(fx.spiky, "org-acme", "live")(0, fixtureNow.Add(-10*time.Minute))
	r2 := mk(fx.mystery, "org-acme", "live")(0, fixtureNow.Add(-9*time.Minute))
	r1.requestID, r2.requestID = "req-show-1", "req-show-1"
	r1.message = "it's a \\ tricky 'message'"
	fx.events = append(fx.events, r1, r2)
	fx.addDrift(all[4])
	return fx
}

var eventCols = []string{"event_time", "event_time_ms", "status_code", "error_type", "request_id", "error_message",
	"error_url", "environment", "category", "actor", "known", "flags", "method", "path", "project_id",
	"organization_id", "member_id", "client", "region", "latency_ms", "attr_keys", "attr_values", "catalog_version",
	"kafka_topic", "kafka_partition", "kafka_offset"}

func (fx *fixture) plant(t *testing.T, b *backend) {
	t.Helper()
	rows := make([][]any, 0, len(fx.events))
	for i, e := range fx.events {
		var known uint8
		if e.known {
			known = 1
		}
		lat := float64(i%50) + 0.5
		var latp *float64
		if i%3 != 0 {
			latp = &lat
		}
		url, flags := e.url, e.flags
		if url == "" {
			url = "https://example.test/" + e.typ
		}
		if flags == nil {
			flags = []string{"f1"}
		}
		rows = append(rows, []any{e.t, uint16(i % 1000), e.status, e.typ, e.requestID, e.message,
			url, e.env, e.category, e.actor, known, flags, "POST", "/v1/x", e.proj,
			e.org, "member-1", "go-sdk", "us", latp, []string{"k"}, []string{"v" + e.typ}, "c1-test",
			// Six Kafka partitions: on a cluster the rows spread over the shards.
			"api-errors", uint32(i % 6), uint64(i)})
	}
	b.insert(t, "events", eventCols, rows)
	var cat [][]any
	for _, e := range fx.catalog {
		cat = append(cat, []any{e.ErrorType, uint16(e.StatusCode), e.Category, e.Actor, e.Description, e.ErrorMessage,
			e.ErrorURL, e.Remediation, nonNilStrings(e.CommonCauses), nonNilStrings(e.Troubleshooting), e.Source, "c1-test", fixtureNow})
	}
	b.insert(t, "catalog", []string{"error_type", "status_code", "category", "actor", "description", "error_message",
		"error_url", "remediation", "common_causes", "troubleshooting", "source", "catalog_version", "updated_at"}, cat)
	q := [][]any{
		{fixtureNow.Add(-time.Hour), "bad_json", "unexpected end of JSON", "{\"a\":", uint32(5), "api-errors", uint32(0), uint64(10), fixtureNow.Add(-time.Hour), "k1", uint64(1)},
		{fixtureNow.Add(-50 * time.Minute), "bad_json", "unexpected end of JSON", "{\"b\":", uint32(5), "api-errors", uint32(1), uint64(11), fixtureNow.Add(-time.Hour), "k2", uint64(2)},
		{fixtureNow.Add(-40 * time.Minute), "bad_json", "invalid character", "nope", uint32(4), "api-errors", uint32(1), uint64(12), fixtureNow.Add(-time.Hour), "k3", uint64(3)},
		{fixtureNow.Add(-30 * time.Minute), "too_large", "70000 bytes", strings.Repeat("x", 1000), uint32(70000), "api-errors", uint32(2), uint64(1), fixtureNow.Add(-time.Hour), "k4", uint64(4)},
		{fixtureNow.Add(-72 * time.Hour), "bad_json", "old", "old", uint32(3), "api-errors", uint32(2), uint64(0), fixtureNow.Add(-72 * time.Hour), "k5", uint64(5)},
	}
	b.insert(t, "quarantine", []string{"received_at", "reason", "detail", "payload", "payload_bytes", "kafka_topic",
		"kafka_partition", "kafka_offset", "kafka_time", "kafka_key", "insert_id"}, q)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// refCount counts fixture events matching keep in [from, to): the reference answer.
func (fx *fixture) refCount(from, to time.Time, keep func(fxEvent) bool) map[string]uint64 {
	out := map[string]uint64{}
	for _, e := range fx.events {
		if !e.t.Before(from) && e.t.Before(to) && keep(e) {
			out[e.typ]++
		}
	}
	return out
}

// setup plants the fixture in both ClickHouses and returns a client for each.
func setup(t *testing.T) (*fixture, []*backend, []*Client) {
	t.Helper()
	fx := newFixture(t)
	bs := backends(t)
	var cs []*Client
	for _, b := range bs {
		fx.plant(t, b)
		c, err := New(b.db, b.database, Options{MaxRows: 100, Timeout: 30 * time.Second, Now: func() time.Time { return fixtureNow }})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return fx, bs, cs
}

func day(f Filter) Filter {
	f.Since, f.Until = fixtureNow.Add(-24*time.Hour), fixtureNow
	return f
}

func TestQueriesOnBothClickHouses(t *testing.T) {
	fx, bs, cs := setup(t)
	ctx := context.Background()
	for i, c := range cs {
		b := bs[i]
		t.Run(b.name, func(t *testing.T) {
			t.Run("top", func(t *testing.T) { testTop(t, ctx, fx, c) })
			t.Run("top readonly user", func(t *testing.T) {
				if b.readonly == nil {
					t.Skip("chDB has no users") // the server backend covers readonly
				}
				ro, err := New(b.readonly, b.database, Options{MaxRows: 100, Timeout: 30 * time.Second, Now: func() time.Time { return fixtureNow }})
				if err != nil {
					t.Fatal(err)
				}
				testTop(t, ctx, fx, ro)
			})
			t.Run("hostile filter", func(t *testing.T) { testHostile(t, ctx, c) })
			t.Run("spikes", func(t *testing.T) { testSpikes(t, ctx, fx, c) })
			t.Run("trend", func(t *testing.T) { testTrend(t, ctx, fx, c) })
			t.Run("show", func(t *testing.T) { testShow(t, ctx, fx, c) })
			t.Run("explain", func(t *testing.T) { testExplain(t, ctx, fx, c) })
			t.Run("unknown", func(t *testing.T) { testUnknown(t, ctx, fx, c) })
			t.Run("quarantine", func(t *testing.T) { testQuarantine(t, ctx, c) })
			t.Run("orgs", func(t *testing.T) { testOrgs(t, ctx, fx, c) })
			t.Run("drift", func(t *testing.T) { testDrift(t, ctx, fx, c) })
			t.Run("unknown drafts", func(t *testing.T) { testUnknownDrafts(t, ctx, fx, c) })
			t.Run("incident", func(t *testing.T) { testIncident(t, ctx, fx, c) })
		})
	}
}

func testTop(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	for _, f := range []Filter{{}, {Env: "test"}, {Org: "org-2"}, {Category: fx.catalog[1].Category}, {ErrorType: fx.spiky}, {Status: 400, Project: "proj-live"}} {
		f = day(f)
		res, err := c.Top(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		keep := func(e fxEvent) bool {
			return (f.Env == "" || e.env == f.Env) && (f.Org == "" || e.org == f.Org) && (f.Project == "" || e.proj == f.Project) &&
				(f.Category == "" || e.category == f.Category) && (f.ErrorType == "" || e.typ == f.ErrorType) && (f.Status == 0 || e.status == f.Status)
		}
		cur := fx.refCount(f.Since, f.Until, keep)
		prev := fx.refCount(f.Since.Add(-24*time.Hour), f.Since, keep)
		var total uint64
		for _, n := range cur {
			total += n
		}
		if res.Total != total || len(res.Rows) != len(cur) {
			t.Fatalf("filter %+v: total %d, %d rows; want %d, %d (%v)", f, res.Total, len(res.Rows), total, len(cur), cur)
		}
		for i, r := range res.Rows {
			if r.Count != cur[r.ErrorType] || r.PreviousCount != prev[r.ErrorType] || !approx(r.Share, float64(r.Count)/float64(total)) {
				t.Errorf("filter %+v: row %+v; want count %d previous %d", f, r, cur[r.ErrorType], prev[r.ErrorType])
			}
			if i > 0 && r.Count > res.Rows[i-1].Count {
				t.Errorf("rows not ordered by count: %v", res.Rows)
			}
			if p := prev[r.ErrorType]; p > 0 && (r.Change == nil || !approx(*r.Change, (float64(r.Count)-float64(p))/float64(p))) {
				t.Errorf("change of %s = %v", r.ErrorType, r.Change)
			} else if p == 0 && r.Change != nil {
				t.Errorf("change of %s with no previous events = %v, want nil", r.ErrorType, *r.Change)
			}
		}
	}
	// Hand-checked numbers for the unfiltered day.
	res, err := c.Top(ctx, day(Filter{}))
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]TopRow{}
	for _, r := range res.Rows {
		byType[r.ErrorType] = r
	}
	// spiky: 60 now + 6 preceding + the request of show = 67; previous day: the 1 at day-1.
	if r := byType[fx.spiky]; r.Count != 67 || r.PreviousCount != 1 || !r.Known || r.Remediation != fx.catalog[0].Remediation ||
		r.DocsURL != fx.catalog[0].ErrorURL || r.Category != fx.catalog[0].Category || r.Actor != fx.catalog[0].Actor {
		t.Errorf("spiky row %+v", r)
	}
	if r := byType[fx.steady]; r.Count != 700 || r.PreviousCount != 100 || r.Change == nil || *r.Change != 6 {
		t.Errorf("steady row %+v", r)
	}
	if r := byType[fx.tiny]; r.Count != 3 || r.Known || r.Category != "unknown" {
		t.Errorf("tiny row %+v", r)
	}
	if res.Rows[0].ErrorType != fx.steady {
		t.Errorf("first row %s, want %s", res.Rows[0].ErrorType, fx.steady)
	}
	// A list cut at max_rows keeps exact totals and says it was cut.
	small := *c
	small.opts.MaxRows = 2
	cut, err := small.Top(ctx, day(Filter{}))
	if err != nil {
		t.Fatal(err)
	}
	if !cut.Truncated || len(cut.Rows) != 2 || cut.Total != res.Total || cut.PreviousTotal != res.PreviousTotal || cut.Rows[0].ErrorType != res.Rows[0].ErrorType {
		t.Errorf("cut top %+v, full %+v", cut, res)
	}
	if r := byType[fx.tiny]; r.StatusCode != 400 || r.Actor != "unknown" {
		t.Errorf("type outside the catalog: %+v", r)
	}
	// An empty window.
	empty, err := c.Top(ctx, Filter{Since: fixtureNow.Add(-100 * 24 * time.Hour), Until: fixtureNow.Add(-99 * 24 * time.Hour)})
	if err != nil || empty.Total != 0 || len(empty.Rows) != 0 {
		t.Errorf("empty window: %+v %v", empty, err)
	}
}

func testHostile(t *testing.T, ctx context.Context, c *Client) {
	for _, v := range []string{`x' OR 1=1 --`, `org-1' OR '1'='1`, `\' OR 1=1 --`, "org-1\x00", `org-1\`, `?`, `'; DROP TABLE events; --`} {
		res, err := c.Top(ctx, day(Filter{Org: v}))
		if err != nil {
			t.Fatalf("org %q: %v", v, err)
		}
		if res.Total != 0 || len(res.Rows) != 0 {
			t.Errorf("org %q matched %d events", v, res.Total)
		}
		o, err := c.Orgs(ctx, day(Filter{ErrorType: v}), 10)
		if err != nil || o.Total != 0 {
			t.Errorf("error type %q: %+v %v", v, o, err)
		}
	}
	// Still there afterwards.
	res, err := c.Top(ctx, day(Filter{Org: "org-1"}))
	if err != nil || res.Total == 0 {
		t.Fatalf("org-1 after hostile values: %+v %v", res, err)
	}
}

func testSpikes(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	for _, f := range []Filter{{}, {Org: "org-acme"}} { // rollup and raw events
		res, err := c.Spikes(ctx, f, DefaultSpikeParams())
		if err != nil {
			t.Fatal(err)
		}
		if res.FromRollup != (f.Org == "") {
			t.Errorf("from rollup = %v with filter %+v", res.FromRollup, f)
		}
		if res.RecordedBaseline != 13*time.Hour {
			t.Errorf("recorded baseline %s, want 13h", res.RecordedBaseline)
		}
		if len(res.Spikes) != 1 || res.Spikes[0].ErrorType != fx.spiky {
			t.Fatalf("filter %+v: spikes %+v, want only %s", f, res.Spikes, fx.spiky)
		}
		sp := res.Spikes[0]
		// 60 in the window [11:00, 12:00) (the show request at 11:50 makes 61); 6 in the 6h
		// before it, 1 in the same hour of each of 7 days: expected max(7/6, 8/7) = 7/6.
		if sp.Observed != 61 || sp.BaselineCount != 13 || !approx(sp.Expected, 7.0/6) || sp.Basis != BasisRecent ||
			!approx(sp.ExpectedTimeOfDay, 8.0/7) || res.RecordedDays != 7 || res.RecordedPreceding != 6*time.Hour || sp.PValue >= 1e-6 ||
			sp.Remediation != fx.catalog[0].Remediation || sp.DocsURL != fx.catalog[0].ErrorURL {
			t.Errorf("spike %+v", sp)
		}
		if !approx(sp.PValue, PoissonTail(61, 7.0/6)) {
			t.Errorf("p-value %g, want %g", sp.PValue, PoissonTail(61, 7.0/6))
		}
	}
	// The window of the same hour a day ago holds no spike.
	res, err := c.Spikes(ctx, Filter{Until: fixtureNow.Add(-24 * time.Hour)}, DefaultSpikeParams())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Spikes) != 0 {
		t.Errorf("a day ago: spikes %+v", res.Spikes)
	}
	// Loosen min count and ratio: the tiny burst and the moderate type are still not
	// significant at alpha 1e-6.
	p := DefaultSpikeParams()
	p.MinCount, p.MinRatio = 1, 1
	res, err = c.Spikes(ctx, Filter{}, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range res.Spikes {
		if sp.ErrorType != fx.spiky {
			t.Errorf("with loose thresholds %s fired: %+v", sp.ErrorType, sp)
		}
	}
}

func testTrend(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	cases := []struct {
		f      Filter
		bucket time.Duration
		rollup bool
	}{
		{Filter{Since: fixtureNow.Add(-2 * time.Hour), Until: fixtureNow}, time.Minute, false},
		{Filter{Since: fixtureNow.Add(-2 * time.Hour), Until: fixtureNow, ErrorType: fx.mystery}, time.Minute, false},
		{Filter{Since: fixtureNow.Add(-24 * time.Hour), Until: fixtureNow}, 15 * time.Minute, true},
		{Filter{Since: fixtureNow.Add(-24*time.Hour - 7*time.Minute), Until: fixtureNow.Add(-3 * time.Minute), Env: "live"}, 15 * time.Minute, true},
		{Filter{Since: fixtureNow.Add(-24 * time.Hour), Until: fixtureNow, Org: "org-2"}, 15 * time.Minute, false},
		{Filter{Since: fixtureNow.Add(-8 * 24 * time.Hour), Until: fixtureNow}, time.Hour, true},
	}
	zeros := 0
	for _, tc := range cases {
		res, err := c.Trend(ctx, tc.f, 3)
		if err != nil {
			t.Fatal(err)
		}
		if res.Bucket != tc.bucket || res.FromRollup != tc.rollup {
			t.Errorf("%+v: bucket %s rollup %v", tc.f, res.Bucket, res.FromRollup)
		}
		keep := func(e fxEvent) bool {
			return (tc.f.Env == "" || e.env == tc.f.Env) && (tc.f.Org == "" || e.org == tc.f.Org) && (tc.f.ErrorType == "" || e.typ == tc.f.ErrorType)
		}
		if len(res.Buckets) != int(res.Until.Sub(res.Since)/res.Bucket) || !res.Since.Equal(tc.f.Since.Truncate(tc.bucket)) {
			t.Fatalf("%+v: %d buckets from %s to %s", tc.f, len(res.Buckets), res.Since, res.Until)
		}
		for i, bt := range res.Buckets {
			want := uint64(0)
			for _, n := range fx.refCount(bt, bt.Add(res.Bucket), keep) {
				want += n
			}
			if res.All.Counts[i] != want {
				t.Errorf("%+v: bucket %s = %d, want %d", tc.f, bt, res.All.Counts[i], want)
			}
			if want == 0 {
				zeros++
			}
		}
		totals := fx.refCount(res.Since, res.Until, keep)
		var types []string
		for ty := range totals {
			types = append(types, ty)
		}
		sort.Slice(types, func(i, j int) bool {
			return totals[types[i]] > totals[types[j]] || totals[types[i]] == totals[types[j]] && types[i] < types[j]
		})
		if len(types) > 3 {
			types = types[:3]
		}
		if len(res.Types) != len(types) {
			t.Fatalf("%+v: %d series, want %v", tc.f, len(res.Types), types)
		}
		for i, s := range res.Types {
			if s.ErrorType != types[i] || s.Total != totals[types[i]] {
				t.Errorf("%+v: series %d = %s %d, want %s %d", tc.f, i, s.ErrorType, s.Total, types[i], totals[types[i]])
			}
			for j, bt := range res.Buckets {
				if want := fx.refCount(bt, bt.Add(res.Bucket), keep)[s.ErrorType]; s.Counts[j] != want {
					t.Errorf("%+v: %s bucket %s = %d, want %d", tc.f, s.ErrorType, bt, s.Counts[j], want)
				}
			}
		}
	}
	if zeros < 100 {
		t.Errorf("only %d empty buckets: the cases should exercise gap filling", zeros)
	}
}

func testShow(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	evs, trunc, err := c.Show(ctx, "req-show-1", Filter{})
	if err != nil || trunc {
		t.Fatal(err, trunc)
	}
	if len(evs) != 2 || evs[0].ErrorType != fx.spiky || evs[1].ErrorType != fx.mystery {
		t.Fatalf("events %+v", evs)
	}
	e := evs[0]
	if e.ErrorMessage != "it's a \\ tricky 'message'" || e.OrganizationID != "org-acme" || e.Catalog == nil ||
		e.Catalog.Remediation != fx.catalog[0].Remediation || !e.Known || e.Attributes["k"] != "v"+fx.spiky ||
		len(e.Flags) != 1 || e.EventTime.Truncate(time.Second) != fixtureNow.Add(-10*time.Minute) {
		t.Errorf("first event %+v", e)
	}
	if evs[1].Catalog != nil || evs[1].Known {
		t.Errorf("unknown type's event %+v", evs[1])
	}
	none, _, err := c.Show(ctx, "x' OR 1=1 --", Filter{})
	if err != nil || len(none) != 0 {
		t.Errorf("hostile request id: %d events, %v", len(none), err)
	}
}

func testExplain(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	ex, err := c.Explain(ctx, fx.spiky, day(Filter{}), 5)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Catalog == nil || ex.Catalog.Description != fx.catalog[0].Description || ex.Count != 67 || ex.PreviousCount != 1 ||
		len(ex.TopOrgs) != 1 || ex.TopOrgs[0].OrganizationID != "org-acme" || ex.TopOrgs[0].Count != 67 || ex.LastSeen == nil {
		t.Errorf("explain %+v", ex)
	}
	ex, err = c.Explain(ctx, fx.steady, day(Filter{}), 2)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Count != 700 || len(ex.TopOrgs) != 2 || ex.TopOrgs[0].Count != 175 {
		t.Errorf("explain steady %+v", ex)
	}
	ex, err = c.Explain(ctx, "no_such_error", day(Filter{}), 5)
	if err != nil || ex.Catalog != nil || ex.Count != 0 {
		t.Errorf("explain unknown: %+v %v", ex, err)
	}
}

func testUnknown(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	f := Filter{Since: fixtureNow.Add(-7 * 24 * time.Hour), Until: fixtureNow}
	rows, _, err := c.Unknown(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	// mystery: 5 + 2 + the show request = 8; tiny: 3. lateKnown is in the catalog table now.
	if len(rows) != 2 || rows[0].ErrorType != fx.mystery || rows[0].Count != 8 || rows[1].ErrorType != fx.tiny || rows[1].Count != 3 {
		t.Fatalf("unknown %+v", rows)
	}
	if !rows[0].FirstSeen.Equal(fixtureNow.Add(-30*time.Hour).Add(15*time.Minute)) || rows[0].SampleMessage == "" || rows[0].StatusCode != 400 {
		t.Errorf("mystery row %+v", rows[0])
	}
}

func testQuarantine(t *testing.T, ctx context.Context, c *Client) {
	rows, _, err := c.Quarantine(ctx, day(Filter{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Reason != "bad_json" || rows[0].Count != 3 || rows[0].Bytes != 14 || len(rows[0].Samples) != 3 ||
		rows[1].Reason != "too_large" || rows[1].Count != 1 || len(rows[1].Samples[0]) != QuarantineSampleBytes ||
		!rows[0].FirstSeen.Equal(fixtureNow.Add(-time.Hour)) || !rows[0].LastSeen.Equal(fixtureNow.Add(-40*time.Minute)) {
		t.Errorf("quarantine %+v", rows)
	}
}

func testOrgs(t *testing.T, ctx context.Context, fx *fixture, c *Client) {
	res, err := c.Orgs(ctx, day(Filter{ErrorType: fx.steady}), 10)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 700 || len(res.Rows) != 4 || res.Rows[0].Count != 175 || !approx(res.Rows[0].Share, 0.25) || res.Rows[0].OrganizationID != "org-1" {
		t.Errorf("orgs %+v", res)
	}
	res, err = c.Orgs(ctx, day(Filter{Category: fx.catalog[2].Category}), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) == 0 || res.Rows[0].OrganizationID != "org-2" {
		t.Errorf("orgs by category %+v", res)
	}
}
