package query

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
)

// A week of traffic per minute, one error type per scenario, judged at the end of the week.
// The same scenarios are judged by `query spikes` with its defaults (TestSeasonalSpikes) and,
// at the alert's scale, by the query and by the generated Prometheus rules
// (TestSpikeRuleAgreement).

// scenarioSpan is how much history each scenario has before its judgement time: the 7 days
// of the time-of-day baseline, plus the longest recent baseline and window, with room.
const scenarioSpan = 7*oneDay + 8*time.Hour

// scenario is one error type's traffic, as events per minute.
type scenario struct {
	role  string
	spike bool // the judgement at the end of the week
	// perMinute gives the events in the minute starting at ago before the judgement time, for
	// a judged window w; bursts last w+5m so an alert with a 2m `for` is firing at the end.
	perMinute func(ago, w time.Duration) int
}

const oneDay = 24 * time.Hour

func inBurst(ago, w time.Duration) bool { return ago < w+5*time.Minute }

// hourly is one event an hour, in the minute 30 minutes past each hour of the span.
func hourly(ago time.Duration) int {
	if (ago/time.Minute)%60 == 30 {
		return 1
	}
	return 0
}

var scenarios = []scenario{
	{role: "steady", spike: false, perMinute: func(time.Duration, time.Duration) int { return 2 }},
	{role: "rising day", spike: false, perMinute: func(ago, _ time.Duration) int {
		if ago >= 12*time.Hour {
			return 1
		}
		// 6/min twelve hours ago, 18/min now: busy, but never 3x its recent hours.
		return 6 + int(12*(12*time.Hour-ago)/(12*time.Hour))
	}},
	{role: "daily recurring burst", spike: false, perMinute: func(ago, w time.Duration) int {
		if inBurst(ago%oneDay, w) {
			return 6 // the same burst at the same time on each of the 8 days
		}
		return hourly(ago)
	}},
	{role: "same burst on a new day", spike: true, perMinute: func(ago, w time.Duration) int {
		if inBurst(ago, w) {
			return 6 // today only
		}
		return hourly(ago)
	}},
	{role: "planted 5x", spike: true, perMinute: func(ago, w time.Duration) int {
		if inBurst(ago, w) {
			return 10
		}
		return 2
	}},
	{role: "brand-new type", spike: true, perMinute: func(ago, w time.Duration) int {
		if inBurst(ago, w) {
			return 6
		}
		return 0
	}},
}

// scenarioTypes gives each scenario a catalog type whose alert policy is the default (the
// generic spike alert, factor 3, floor 5/min), in scenario order.
func scenarioTypes(t *testing.T) ([]catalog.Entry, *catalog.Catalog) {
	t.Helper()
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	def := catalog.AlertPolicy{Factor: catalog.DefaultAlertFactor, FloorPerMinute: catalog.DefaultAlertFloor, Severity: catalog.DefaultAlertSeverity}
	var out []catalog.Entry
	for _, e := range cat.Entries() {
		if cat.Policy(e.ErrorType) == def && len(out) < len(scenarios) {
			out = append(out, e)
		}
	}
	return out, cat
}

// minuteCounts returns every scenario's events per minute from end-scenarioSpan to end.
func minuteCounts(w time.Duration) [][]int {
	n := int(scenarioSpan / time.Minute)
	out := make([][]int, len(scenarios))
	for i, sc := range scenarios {
		out[i] = make([]int, n)
		for m := 0; m < n; m++ {
			out[i][m] = sc.perMinute(scenarioSpan-time.Duration(m+1)*time.Minute, w)
		}
	}
	return out
}

// scenarioEvents turns the minute counts into events: k events in a minute sit at distinct
// whole seconds inside it.
func scenarioEvents(types []catalog.Entry, counts [][]int, end time.Time) []fxEvent {
	start := end.Add(-scenarioSpan)
	var evs []fxEvent
	for i, perMin := range counts {
		e := types[i]
		for m, k := range perMin {
			for j := 0; j < k; j++ {
				ts := start.Add(time.Duration(m)*time.Minute + time.Duration(j*60/k)*time.Second)
				evs = append(evs, fxEvent{t: ts, typ: e.ErrorType, env: "live", org: "org-" + fmt.Sprint(i), proj: "proj-live",
					category: e.Category, actor: e.Actor, status: uint16(e.StatusCode), known: true,
					requestID: fmt.Sprintf("req-%d-%d-%d", i, m, j), message: e.ErrorMessage})
			}
		}
	}
	return evs
}

// Judgement times of the two scales, far enough apart that their weeks do not overlap.
var (
	seasonalEndCLI   = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	seasonalEndAlert = time.Date(2026, 10, 20, 3, 0, 0, 0, time.UTC)
)

// plantScenarios stores both scales' weeks in every backend and returns a client per backend.
func plantScenarios(t *testing.T, types []catalog.Entry) ([]*backend, []*Client) {
	t.Helper()
	evs := append(scenarioEvents(types, minuteCounts(time.Hour), seasonalEndCLI),
		scenarioEvents(types, minuteCounts(5*time.Minute), seasonalEndAlert)...)
	fx := &fixture{events: evs, catalog: types}
	bs := backends(t)
	var cs []*Client
	for _, b := range bs {
		fx.plant(t, b)
		c, err := New(b.db, b.database, Options{MaxRows: 100, Timeout: 60 * time.Second, Now: func() time.Time { return seasonalEndCLI }})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return bs, cs
}

// spikedRoles runs Spikes at end and returns the roles found, checking no other type fired.
func spikedRoles(t *testing.T, c *Client, types []catalog.Entry, end time.Time, p SpikeParams) ([]string, *SpikesResult) {
	t.Helper()
	res, err := c.Spikes(context.Background(), Filter{Until: end}, p)
	if err != nil {
		t.Fatal(err)
	}
	role := map[string]string{}
	for i, e := range types {
		role[e.ErrorType] = scenarios[i].role
	}
	var got []string
	for _, sp := range res.Spikes {
		r, ok := role[sp.ErrorType]
		if !ok {
			t.Errorf("spike of a type outside the scenarios: %+v", sp)
			continue
		}
		got = append(got, r)
	}
	slices.Sort(got)
	return got, res
}

func wantRoles() []string {
	var want []string
	for _, sc := range scenarios {
		if sc.spike {
			want = append(want, sc.role)
		}
	}
	slices.Sort(want)
	return want
}

// TestSeasonalSpikes judges the week with the CLI's defaults (1h window, 6h before it, the
// same hour on 7 days) on ClickHouse 18.16 and 26.7, via the rollup and via raw events.
// The same planted weeks then go to the alert agreement test.
func TestSeasonalSpikes(t *testing.T) {
	types, cat := scenarioTypes(t)
	bs, cs := plantScenarios(t, types)
	for i, c := range cs {
		t.Run(bs[i].name, func(t *testing.T) {
			for _, f := range []Filter{{}, {Env: "live"}, {Project: "proj-live"}} { // rollup, rollup, raw events
				res, err := c.Spikes(context.Background(), Filter{Until: seasonalEndCLI, Env: f.Env, Project: f.Project}, DefaultSpikeParams())
				if err != nil {
					t.Fatal(err)
				}
				if res.FromRollup != (f.Project == "") || res.RecordedDays != 7 || res.RecordedPreceding != 6*time.Hour {
					t.Errorf("filter %+v: rollup %v, recorded days %d, preceding %s", f, res.FromRollup, res.RecordedDays, res.RecordedPreceding)
				}
			}
			got, res := spikedRoles(t, c, types, seasonalEndCLI, DefaultSpikeParams())
			if !slices.Equal(got, wantRoles()) {
				t.Fatalf("spikes %v, want %v (%+v)", got, wantRoles(), res.Spikes)
			}
			for _, sp := range res.Spikes {
				if sp.Remediation == "" || sp.Category == "" {
					t.Errorf("spike without its catalog entry: %+v", sp)
				}
			}
			// With two days of history the old pooled rate, (6h + 2 days) / 8h, expected a
			// quarter of the burst and called it a spike; the time of day still knows it.
			two := DefaultSpikeParams()
			two.Days = 2
			if got, res := spikedRoles(t, c, types, seasonalEndCLI, two); !slices.Equal(got, wantRoles()) {
				t.Errorf("with --days 2: spikes %v, want %v (%+v)", got, wantRoles(), res.Spikes)
			}
			// The recurring burst is judged against its time of day and found usual.
			p := DefaultSpikeParams()
			p.MinCount, p.MinRatio, p.Alpha = 1, 1, 0.1
			loose, err := c.Spikes(context.Background(), Filter{Until: seasonalEndCLI, ErrorType: types[2].ErrorType}, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(loose.Spikes) != 0 {
				t.Errorf("recurring burst with loose thresholds: %+v", loose.Spikes)
			}
			// Without the days, the recurring burst is news: the seasonal baseline is what
			// holds it back.
			p = DefaultSpikeParams()
			p.Days = 0
			got, _ = spikedRoles(t, c, types, seasonalEndCLI, p)
			if !slices.Contains(got, "daily recurring burst") {
				t.Errorf("with --days 0 the recurring burst should be a spike: %v", got)
			}
		})
	}
	t.Run("alert rules agree", func(t *testing.T) { testSpikeRuleAgreement(t, cat, types, bs, cs) })
}
