package query

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// SpikeParams are the knobs of Spikes. DefaultSpikeParams documents the defaults.
type SpikeParams struct {
	// Window is the recent period judged, ending at the filter's Until (default now), cut to
	// the whole minute.
	Window time.Duration
	// Preceding is the baseline period just before the window.
	Preceding time.Duration
	// Days is how many previous days contribute the same window of the day to the baseline
	// (daily seasonality).
	Days int
	// Alpha is the p-value below which a count is significant.
	Alpha float64
	// MinCount is the fewest events in the window that can be a spike.
	MinCount uint64
	// MinRatio is the smallest observed/expected that can be a spike.
	MinRatio float64
}

// DefaultSpikeParams: the last hour against the 6 hours before it and the same hour on each
// of the 7 previous days; p < 1e-6, at least 20 events and at least 3 times the expected count.
func DefaultSpikeParams() SpikeParams {
	return SpikeParams{Window: time.Hour, Preceding: 6 * time.Hour, Days: 7, Alpha: 1e-6, MinCount: 20, MinRatio: 3}
}

// SpikeMethod describes the test for --help and the README.
const SpikeMethod = `For each error type, the events in the recent window are compared with two
baselines, and the higher one is what is expected now:

  recent       the period just before the window (--baseline): what this type has been
               doing in the last hours
  time of day  the same window on each of the previous days (--days): what is usual for
               this time of day, so a burst that happens at this time every day (a
               nightly job) is expected, and the same burst at an unusual time is not

A baseline period with no events at all (of any type, ignoring filters) counts as not
recorded and is left out, so a fresh installation or a gap in ingestion does not look quiet.

  recent   = (events in the recorded preceding period + 1) / its hours * window hours
  seasonal = (events in the same window on the recorded days + 1) / recorded days
  expected = max(recent, seasonal)          (whichever baselines were recorded)
  p        = P(X >= observed) for X ~ Poisson(expected)

The "+ 1" keeps a type never seen before from having an expected count of zero. p is the
Poisson upper tail computed as a regularized incomplete gamma function in log space. A type
is a spike when p < alpha AND observed >= min count AND observed/expected >= min ratio, so
a handful of events where there were none (tiny counts) or a steady high rate (ratio near 1)
never fire. Spikes are ranked by p (smallest first), then by ratio. The Prometheus spike
alerts apply the same rule with a 5m window, a 1h recent baseline and 7 days
(query/README.md lists where PromQL makes them differ).`

func (p SpikeParams) validate() error {
	switch {
	case p.Window < time.Minute || p.Window%time.Minute != 0:
		return fmt.Errorf("spikes: window %s must be whole minutes, at least 1m", p.Window)
	case p.Preceding < 0 || p.Preceding%time.Minute != 0:
		return fmt.Errorf("spikes: baseline %s must be whole minutes", p.Preceding)
	case p.Days > 0 && p.Window+p.Preceding > 24*time.Hour:
		return fmt.Errorf("spikes: window %s plus baseline %s exceed 24h and would overlap the previous day's window (shorten them, or give --days 0)", p.Window, p.Preceding)
	case p.Days < 0 || p.Days > 28:
		return fmt.Errorf("spikes: days %d is not in 0..28", p.Days)
	case p.Preceding == 0 && p.Days == 0:
		return fmt.Errorf("spikes: no baseline: give a baseline period or days")
	case !(p.Alpha > 0 && p.Alpha < 1):
		return fmt.Errorf("spikes: alpha %g is not in (0, 1)", p.Alpha)
	case p.MinRatio < 1 || math.IsNaN(p.MinRatio):
		return fmt.Errorf("spikes: min ratio %g is below 1", p.MinRatio)
	}
	return nil
}

// Spike is one error type whose recent count is significantly above its baseline.
type Spike struct {
	ErrorType string  `json:"error_type"`
	Observed  uint64  `json:"observed"`
	Expected  float64 `json:"expected"` // max(ExpectedRecent, ExpectedTimeOfDay)
	Ratio     float64 `json:"ratio"`
	PValue    float64 `json:"p_value"`
	Log10P    float64 `json:"log10_p"`
	// ExpectedRecent is the expectation from the preceding period, ExpectedTimeOfDay from
	// the same window on previous days; 0 when that baseline was not recorded.
	ExpectedRecent    float64 `json:"expected_recent"`
	ExpectedTimeOfDay float64 `json:"expected_time_of_day"`
	// Basis names the baseline Expected came from: "recent" or "time_of_day".
	Basis            string  `json:"basis"`
	RecentCount      uint64  `json:"recent_count"`      // events in the recorded preceding period
	TimeOfDayCount   uint64  `json:"time_of_day_count"` // events in the same window on recorded days
	BaselineCount    uint64  `json:"baseline_count"`    // both together
	BaselineHours    float64 `json:"baseline_hours"`
	Category         string  `json:"category"` // the current catalog's; stamped for types outside it
	Actor            string  `json:"actor"`
	Remediation      string  `json:"remediation"`
	DocsURL          string  `json:"docs_url"`
	FirstSeenInRange bool    `json:"new_type"` // no baseline events at all
}

// Basis values of Spike.Basis.
const (
	BasisRecent    = "recent"
	BasisTimeOfDay = "time_of_day"
)

// SpikesResult is the answer of Spikes.
type SpikesResult struct {
	WindowStart, WindowEnd time.Time
	Params                 SpikeParams
	RecordedBaseline       time.Duration // baseline time with data
	RecordedPreceding      time.Duration // of it, the preceding period (0 or Params.Preceding)
	RecordedDays           int           // previous days whose same window has data
	Candidates             int           // types with at least MinCount events in the window
	Spikes                 []Spike
	FromRollup             bool
}

// baseline is what one type's expectation is made of.
type baseline struct {
	recentCount, dayCount uint64
	recentHours           float64 // recorded preceding hours, 0 if not recorded
	days                  int     // recorded previous days
}

type segment struct{ from, to time.Time }

// Spikes finds error types whose count in the recent window is significantly above their
// baseline; see SpikeMethod. f.Since is ignored; f.Until (zero: now) ends the window.
func (c *Client) Spikes(ctx context.Context, f Filter, p SpikeParams) (*SpikesResult, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	end := f.Until
	if end.IsZero() {
		end = c.Now()
	}
	end = end.UTC().Truncate(time.Minute)
	segs := []segment{{end.Add(-p.Window), end}}
	if p.Preceding > 0 {
		segs = append(segs, segment{end.Add(-p.Window - p.Preceding), end.Add(-p.Window)})
	}
	for d := 1; d <= p.Days; d++ {
		back := time.Duration(d) * 24 * time.Hour
		segs = append(segs, segment{end.Add(-back - p.Window), end.Add(-back)})
	}
	res := &SpikesResult{WindowStart: segs[0].from, WindowEnd: end, Params: p, FromRollup: f.rollupOK()}
	table, tcol, countIf := "${db}.events", "event_time", func(c string) string { return "countIf(" + c + ")" }
	if res.FromRollup {
		table, tcol, countIf = "${db}.events_per_minute", "minute", func(c string) string { return "sumIf(events, " + c + ")" }
	}
	var (
		cols, ors []string
		colArgs   []any
		orArgs    []any
	)
	for _, s := range segs {
		r, a := timeRange(tcol, s.from, s.to)
		cols = append(cols, countIf(r))
		colArgs = append(colArgs, a...)
		ors = append(ors, "("+r+")")
		orArgs = append(orArgs, a...)
	}
	cond, cargs := f.where()
	from := "\nFROM " + table + "\nWHERE (" + strings.Join(ors, " OR ") + ")"

	// Which baseline periods were recorded at all: every type, no filter.
	totals := make([]uint64, len(segs))
	dest := make([]any, len(segs))
	for i := range totals {
		dest[i] = &totals[i]
	}
	_, err := c.run(ctx, stmt{name: "spikes: recorded periods", sql: "SELECT " + strings.Join(cols, ", ") + from,
		args: append(append([]any{}, colArgs...), orArgs...)}, func(r Rows) error { return r.Scan(dest...) })
	if err != nil {
		return nil, err
	}
	// segs[0] is the window; then the preceding period (when asked for); then the days.
	firstDay := 1
	if p.Preceding > 0 {
		firstDay = 2
	}
	recorded := make([]bool, len(segs))
	for i := 1; i < len(segs); i++ {
		if totals[i] > 0 {
			recorded[i] = true
			res.RecordedBaseline += segs[i].to.Sub(segs[i].from)
			if i < firstDay {
				res.RecordedPreceding += segs[i].to.Sub(segs[i].from)
			} else {
				res.RecordedDays++
			}
		}
	}
	if res.RecordedBaseline == 0 {
		return res, nil
	}

	// Arguments in placeholder order: the SELECT's columns, the time ranges, the filter, and
	// the HAVING, which repeats the first column (the recent window).
	var args []any
	for _, a := range [][]any{colArgs, orArgs, cargs, colArgs[:2], {p.MinCount}} {
		args = append(args, a...)
	}
	s := c.limit(stmt{name: "spikes", sql: "SELECT error_type, " + strings.Join(cols, ", ") + from + cond +
		"\nGROUP BY error_type\nHAVING " + cols[0] + " >= ?\nORDER BY error_type", args: args})
	var cands []Spike
	n, err := c.run(ctx, s, func(r Rows) error {
		var t string
		counts := make([]uint64, len(segs))
		d := []any{&t}
		for i := range counts {
			d = append(d, &counts[i])
		}
		if err := r.Scan(d...); err != nil {
			return err
		}
		sp := Spike{ErrorType: t, Observed: counts[0]}
		for i := 1; i < len(segs); i++ {
			switch {
			case !recorded[i]:
			case i < firstDay:
				sp.RecentCount += counts[i]
			default:
				sp.TimeOfDayCount += counts[i]
			}
		}
		cands = append(cands, sp)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c.truncated(n) {
		return nil, fmt.Errorf("spikes: more than query.max_rows %d candidate error types: %w", c.opts.MaxRows, ErrTruncated)
	}
	res.Candidates = len(cands)
	for _, sp := range cands {
		judge(&sp, baseline{recentCount: sp.RecentCount, dayCount: sp.TimeOfDayCount,
			recentHours: res.RecordedPreceding.Hours(), days: res.RecordedDays}, p)
		if p.IsSpike(sp) {
			res.Spikes = append(res.Spikes, sp)
		}
	}
	sort.SliceStable(res.Spikes, func(i, j int) bool {
		a, b := res.Spikes[i], res.Spikes[j]
		if a.Log10P != b.Log10P {
			return a.Log10P < b.Log10P
		}
		return a.Ratio > b.Ratio
	})
	types := make([]string, len(res.Spikes))
	for i, sp := range res.Spikes {
		types[i] = sp.ErrorType
	}
	cat, err := c.catalogFor(ctx, types)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, sp := range res.Spikes {
		if _, ok := cat[sp.ErrorType]; !ok {
			unknown = append(unknown, sp.ErrorType)
		}
	}
	fromEvents, err := c.stampedFor(ctx, unknown, res.WindowStart, res.WindowEnd)
	if err != nil {
		return nil, err
	}
	for i := range res.Spikes {
		sp := &res.Spikes[i]
		if e, ok := cat[sp.ErrorType]; ok {
			sp.Category, sp.Actor, sp.Remediation, sp.DocsURL = e.Category, e.Actor, e.Remediation, e.DocsURL
		} else if ev, ok := fromEvents[sp.ErrorType]; ok {
			sp.Category, sp.Actor = ev.Category, ev.Actor
		}
	}
	return res, nil
}

// judge fills the expectations, ratio and p-value of sp from its baselines; see SpikeMethod.
// At least one baseline must be recorded.
func judge(sp *Spike, b baseline, p SpikeParams) {
	sp.RecentCount, sp.TimeOfDayCount = b.recentCount, b.dayCount
	sp.BaselineCount = b.recentCount + b.dayCount
	sp.BaselineHours = b.recentHours + float64(b.days)*p.Window.Hours()
	sp.FirstSeenInRange = sp.BaselineCount == 0
	sp.ExpectedRecent, sp.ExpectedTimeOfDay = 0, 0
	if b.recentHours > 0 {
		sp.ExpectedRecent = (float64(b.recentCount) + 1) / b.recentHours * p.Window.Hours()
	}
	if b.days > 0 {
		sp.ExpectedTimeOfDay = (float64(b.dayCount) + 1) / float64(b.days)
	}
	sp.Expected, sp.Basis = sp.ExpectedRecent, BasisRecent
	if sp.ExpectedTimeOfDay > sp.Expected {
		sp.Expected, sp.Basis = sp.ExpectedTimeOfDay, BasisTimeOfDay
	}
	sp.Ratio = float64(sp.Observed) / sp.Expected
	lp := PoissonTailLog(sp.Observed, sp.Expected)
	sp.Log10P = lp / math.Ln10
	sp.PValue = math.Exp(lp)
}

// IsSpike reports whether a judged sp passes all three conditions of p.
func (p SpikeParams) IsSpike(sp Spike) bool {
	return sp.PValue < p.Alpha && sp.Observed >= p.MinCount && sp.Ratio >= p.MinRatio
}
