package query

import (
	"context"
	"fmt"
	"time"
)

// TopRow is one error type in a window.
type TopRow struct {
	ErrorType     string   `json:"error_type"`
	Count         uint64   `json:"count"`
	Share         float64  `json:"share"` // of all events in the window matching the filter, 0..1
	PreviousCount uint64   `json:"previous_count"`
	Change        *float64 `json:"change"` // (count-previous)/previous; null when previous is 0
	Category      string   `json:"category"`
	Actor         string   `json:"actor"`
	StatusCode    uint16   `json:"status_code"`
	Known         bool     `json:"known"` // in the catalog
	Remediation   string   `json:"remediation"`
	DocsURL       string   `json:"docs_url"`
}

// TopResult is the answer of Top.
type TopResult struct {
	Since, Until  time.Time
	Total         uint64 // events in [Since, Until)
	PreviousTotal uint64 // events in the window of equal length just before
	Rows          []TopRow
	Truncated     bool
}

// Top counts error types in [f.Since, f.Until) and compares each with the window of the same
// length just before. Category and actor come from the catalog when the type is in it, else
// from the events.
func (c *Client) Top(ctx context.Context, f Filter) (*TopResult, error) {
	if !f.Until.After(f.Since) {
		return nil, fmt.Errorf("top: until %s is not after since %s", f.Until, f.Since)
	}
	prevSince := f.Since.Add(-f.Until.Sub(f.Since))
	cond, cargs := f.where()
	rng, rargs := timeRange("event_time", prevSince, f.Until)
	args := append([]any{unix(f.Since), unix(f.Since)}, rargs...)
	args = append(args, cargs...)
	// One pass over both windows; the primary key (error_type, event_time) and the daily
	// partitions keep it to the rows of the two windows.
	body := `FROM ${db}.events
WHERE ` + rng + cond

	res := &TopResult{Since: f.Since, Until: f.Until}
	// One scan answers both windows and, unless the list is cut, the totals too: every type
	// with events in either window is a row (no HAVING), so the sums are complete. Only
	// error_type and event_time are read; the rest comes from the catalog.
	s := c.limit(stmt{name: "top", sql: `SELECT error_type, countIf(event_time >= toDateTime(?)) AS cur, countIf(event_time < toDateTime(?)) AS prev
` + body + `
GROUP BY error_type
ORDER BY cur DESC, error_type`, args: args})
	var rows []TopRow
	n, err := c.run(ctx, s, func(r Rows) error {
		var row TopRow
		if err := r.Scan(&row.ErrorType, &row.Count, &row.PreviousCount); err != nil {
			return err
		}
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rows, res.Truncated = cut(c, rows, n); res.Truncated {
		_, err := c.run(ctx, stmt{name: "top: totals", sql: `SELECT countIf(event_time >= toDateTime(?)), countIf(event_time < toDateTime(?))
` + body, args: args}, func(r Rows) error { return r.Scan(&res.Total, &res.PreviousTotal) })
		if err != nil {
			return nil, err
		}
	} else {
		for _, r := range rows {
			res.Total += r.Count
			res.PreviousTotal += r.PreviousCount
		}
	}
	for _, r := range rows {
		if r.Count > 0 {
			res.Rows = append(res.Rows, r)
		}
	}
	if len(res.Rows) == 0 {
		return res, nil
	}
	types := make([]string, len(res.Rows))
	for i, r := range res.Rows {
		types[i] = r.ErrorType
	}
	cat, err := c.catalogFor(ctx, types)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, r := range res.Rows {
		if _, ok := cat[r.ErrorType]; !ok {
			unknown = append(unknown, r.ErrorType)
		}
	}
	fromEvents, err := c.stampedFor(ctx, unknown, f.Since, f.Until)
	if err != nil {
		return nil, err
	}
	for i := range res.Rows {
		r := &res.Rows[i]
		r.Share = float64(r.Count) / float64(res.Total)
		r.Change = change(r.Count, r.PreviousCount)
		if e, ok := cat[r.ErrorType]; ok {
			r.Known = true
			r.Category, r.Actor, r.StatusCode, r.Remediation, r.DocsURL = e.Category, e.Actor, e.StatusCode, e.Remediation, e.DocsURL
		} else if ev, ok := fromEvents[r.ErrorType]; ok {
			r.Category, r.Actor, r.StatusCode = ev.Category, ev.Actor, ev.StatusCode
		}
	}
	return res, nil
}

// change is the relative change from prev to cur, nil when prev is 0 (no finite answer).
func change(cur, prev uint64) *float64 {
	if prev == 0 {
		return nil
	}
	v := (float64(cur) - float64(prev)) / float64(prev)
	return &v
}
