package query

import (
	"context"
	"fmt"
	"time"
)

// EnvRow is one environment's share of the incident's events.
type EnvRow struct {
	Environment string  `json:"environment"`
	Count       uint64  `json:"count"`
	Share       float64 `json:"share"`
}

// IncidentSpike is a spike with when it was first and last seen in the window.
type IncidentSpike struct {
	Spike
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Incident is what the on-call person needs first about the window: the spikes, and for
// them (or for everything when nothing spikes) the organizations and environments hit and
// the trend.
type Incident struct {
	Since    time.Time       `json:"since"`
	Until    time.Time       `json:"until"`
	Spikes   []IncidentSpike `json:"spikes"`
	Judged   *SpikesResult   `json:"-"`
	Scope    []string        `json:"scope"` // the types below are about; empty: all types
	Total    uint64          `json:"total"` // events in scope in the window
	Orgs     []OrgRow        `json:"orgs"`
	OrgsCut  bool            `json:"orgs_truncated"`
	Envs     []EnvRow        `json:"environments"`
	Trend    *TrendResult    `json:"trend"` // nil when the window has no events
	Baseline time.Duration   `json:"-"`
	// BaselineNote says how the baseline was fitted to a long window (see FitBaseline);
	// empty when it is the one asked for.
	BaselineNote string `json:"baseline_note,omitempty"`
}

// FitBaseline fits the baseline of p to a window of w, which Spikes requires to fit within a
// day beside the recent baseline when the previous days' same window is used (else they
// would overlap). Below 24h the recent baseline is cut to 24h - w, keeping the time-of-day
// baseline, which is what a long window's daily shape needs; from 24h on the previous days'
// window would overlap this one, so only the recent baseline is used, at least as long as
// the window. The note says what changed, empty when nothing did.
func FitBaseline(p SpikeParams, w time.Duration) (SpikeParams, string) {
	const day = 24 * time.Hour
	p.Window = w
	switch {
	case p.Days == 0 || w+p.Preceding <= day:
		return p, ""
	case w < day:
		was := p.Preceding
		p.Preceding = day - w
		return p, fmt.Sprintf("the recent baseline is cut from %s to %s so that it and the %s window fit in a day beside the previous days' same window", was, p.Preceding, w)
	default:
		p.Days = 0
		p.Preceding = max(p.Preceding, w)
		return p, fmt.Sprintf("a %s window overlaps the previous days' same window: judged against the %s before it only, with no time-of-day baseline", w, p.Preceding)
	}
}

// maxIncidentTypes is how many spiking types the incident's trend draws.
const maxIncidentTypes = 5

// Incident judges the window [f.Since, f.Until) for spikes with p (its Window set to the
// window, which must be whole minutes, and its baseline fitted by FitBaseline) and
// summarizes it.
func (c *Client) Incident(ctx context.Context, f Filter, p SpikeParams, orgs int) (*Incident, error) {
	if !f.Until.After(f.Since) {
		return nil, fmt.Errorf("incident: until %s is not after since %s", f.Until, f.Since)
	}
	f.Since, f.Until = f.Since.UTC().Truncate(time.Minute), f.Until.UTC().Truncate(time.Minute)
	if !f.Until.After(f.Since) {
		return nil, fmt.Errorf("incident: the window cut to whole minutes is empty: give at least --since 1m")
	}
	p, note := FitBaseline(p, f.Until.Sub(f.Since))
	sres, err := c.Spikes(ctx, f, p)
	if err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	inc := &Incident{Since: f.Since, Until: f.Until, Judged: sres, Spikes: []IncidentSpike{}, Scope: []string{}, Orgs: []OrgRow{}, Envs: []EnvRow{},
		Baseline: sres.RecordedBaseline, BaselineNote: note}
	scoped := f
	for _, sp := range sres.Spikes {
		inc.Scope = append(inc.Scope, sp.ErrorType)
	}
	scoped.ErrorTypes = inc.Scope

	cond, cargs := scoped.where()
	rng, rargs := timeRange("event_time", f.Since, f.Until)
	args := append(rargs, cargs...)
	first := map[string][2]time.Time{}
	if len(inc.Scope) > 0 {
		s := c.limit(stmt{name: "incident: first seen", sql: `SELECT error_type, min(event_time), max(event_time)
FROM ${db}.events
WHERE ` + rng + cond + `
GROUP BY error_type
ORDER BY error_type`, args: args})
		if _, err := c.run(ctx, s, func(r Rows) error {
			var t string
			var a, b time.Time
			if err := r.Scan(&t, &a, &b); err != nil {
				return err
			}
			first[t] = [2]time.Time{a.UTC(), b.UTC()}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for _, sp := range sres.Spikes {
		fl := first[sp.ErrorType]
		inc.Spikes = append(inc.Spikes, IncidentSpike{Spike: sp, FirstSeen: fl[0], LastSeen: fl[1]})
	}

	s := c.limit(stmt{name: "incident: environments", sql: `SELECT environment, count() AS n
FROM ${db}.events
WHERE ` + rng + cond + `
GROUP BY environment
ORDER BY n DESC, environment`, args: args})
	if _, err := c.run(ctx, s, func(r Rows) error {
		var e EnvRow
		if err := r.Scan(&e.Environment, &e.Count); err != nil {
			return err
		}
		inc.Total += e.Count
		inc.Envs = append(inc.Envs, e)
		return nil
	}); err != nil {
		return nil, err
	}
	for i := range inc.Envs {
		inc.Envs[i].Share = float64(inc.Envs[i].Count) / float64(inc.Total)
	}
	if inc.Total == 0 {
		return inc, nil
	}
	o, err := c.Orgs(ctx, scoped, orgs)
	if err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	if o.Rows != nil {
		inc.Orgs = o.Rows
	}
	inc.OrgsCut = o.Truncated
	if inc.Trend, err = c.Trend(ctx, scoped, min(len(inc.Scope), maxIncidentTypes)); err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	return inc, nil
}
