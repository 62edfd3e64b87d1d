package query

import (
	"context"
	"fmt"
	"time"
)

// Event is one stored event. Category and Actor are the current catalog's for a type in it,
// else what was stamped; StampedCategory and StampedActor are what the ingester stored with
// the row, checked against catalog CatalogVersion.
type Event struct {
	EventTime       time.Time         `json:"event_time"`
	StatusCode      uint16            `json:"status_code"`
	ErrorType       string            `json:"error_type"`
	RequestID       string            `json:"request_id"`
	ErrorMessage    string            `json:"error_message"`
	ErrorURL        string            `json:"error_url"`
	Environment     string            `json:"environment"`
	Category        string            `json:"category"`
	Actor           string            `json:"actor"`
	StampedCategory string            `json:"stamped_category"`
	StampedActor    string            `json:"stamped_actor"`
	Known           bool              `json:"known"` // in the catalog the row was checked with
	Flags           []string          `json:"flags"`
	Method          string            `json:"method"`
	Path            string            `json:"path"`
	ProjectID       string            `json:"project_id"`
	OrganizationID  string            `json:"organization_id"`
	MemberID        string            `json:"member_id"`
	Client          string            `json:"client"`
	Region          string            `json:"region"`
	LatencyMS       *float64          `json:"latency_ms"`
	Attributes      map[string]string `json:"attributes"`
	CatalogVersion  string            `json:"catalog_version"`
	Catalog         *CatalogEntry     `json:"catalog"` // null when the type is not in the catalog
}

// Show returns the stored events of a request, oldest first, each with its current catalog
// entry (category and actor from it; the stamped ones kept beside).
// A zero f.Since/f.Until searches all stored time.
func (c *Client) Show(ctx context.Context, requestID string, f Filter) ([]Event, bool, error) {
	if requestID == "" {
		return nil, false, fmt.Errorf("show: empty request ID")
	}
	sql := `SELECT event_time, event_time_ms, status_code, error_type, request_id, error_message, error_url,
    environment, category, actor, known, flags, method, path, project_id, organization_id, member_id,
    client, region, latency_ms, attr_keys, attr_values, catalog_version
FROM ${db}.events
WHERE request_id = ?`
	args := []any{requestID}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		until := f.Until
		if until.IsZero() {
			until = c.Now().Add(time.Second)
		}
		r, a := timeRange("event_time", f.Since, until)
		sql += " AND " + r
		args = append(args, a...)
	}
	var out []Event
	n, err := c.run(ctx, c.limit(stmt{name: "show", sql: sql + "\nORDER BY event_time, event_time_ms", args: args}), func(r Rows) error {
		var (
			e          Event
			ms         uint16
			known      uint8
			keys, vals []string
		)
		if err := r.Scan(&e.EventTime, &ms, &e.StatusCode, &e.ErrorType, &e.RequestID, &e.ErrorMessage, &e.ErrorURL,
			&e.Environment, &e.Category, &e.Actor, &known, &e.Flags, &e.Method, &e.Path, &e.ProjectID, &e.OrganizationID,
			&e.MemberID, &e.Client, &e.Region, &e.LatencyMS, &keys, &vals, &e.CatalogVersion); err != nil {
			return err
		}
		e.StampedCategory, e.StampedActor = e.Category, e.Actor
		e.EventTime = e.EventTime.UTC().Add(time.Duration(ms) * time.Millisecond)
		e.Known = known == 1
		e.Attributes = make(map[string]string, len(keys))
		for i, k := range keys {
			if i < len(vals) {
				e.Attributes[k] = vals[i]
			}
		}
		if e.Flags == nil {
			e.Flags = []string{}
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	out, truncated := cut(c, out, n)
	types := map[string]bool{}
	var list []string
	for _, e := range out {
		if !types[e.ErrorType] {
			types[e.ErrorType] = true
			list = append(list, e.ErrorType)
		}
	}
	cat, err := c.catalogFor(ctx, list)
	if err != nil {
		return nil, false, err
	}
	for i := range out {
		if e, ok := cat[out[i].ErrorType]; ok {
			out[i].Catalog = &e
			out[i].Category, out[i].Actor = e.Category, e.Actor
		}
	}
	return out, truncated, nil
}

// OrgRow is one organization affected by the filtered events.
type OrgRow struct {
	OrganizationID string    `json:"organization_id"`
	Count          uint64    `json:"count"`
	Share          float64   `json:"share"`
	ErrorTypes     uint64    `json:"error_types"`
	Projects       uint64    `json:"projects"`
	FirstSeen      time.Time `json:"first_seen"`
	LastSeen       time.Time `json:"last_seen"`
}

// OrgsResult is the answer of Orgs.
type OrgsResult struct {
	Since, Until time.Time
	Total        uint64
	Rows         []OrgRow
	Truncated    bool
}

// Orgs ranks organizations by their events in the filter's window.
func (c *Client) Orgs(ctx context.Context, f Filter, limit int) (*OrgsResult, error) {
	if !f.Until.After(f.Since) {
		return nil, fmt.Errorf("orgs: until %s is not after since %s", f.Until, f.Since)
	}
	cond, cargs := f.where()
	rng, rargs := timeRange("event_time", f.Since, f.Until)
	args := append(rargs, cargs...)
	body := "\nFROM ${db}.events\nWHERE " + rng + cond
	res := &OrgsResult{Since: f.Since, Until: f.Until}
	if _, err := c.run(ctx, stmt{name: "orgs: total", sql: "SELECT count()" + body, args: args},
		func(r Rows) error { return r.Scan(&res.Total) }); err != nil {
		return nil, err
	}
	if res.Total == 0 {
		return res, nil
	}
	if limit <= 0 || limit > c.opts.MaxRows {
		limit = c.opts.MaxRows
	}
	s := stmt{name: "orgs", sql: `SELECT organization_id, count() AS n, uniqExact(error_type), uniqExact(project_id), min(event_time), max(event_time)` +
		body + "\nGROUP BY organization_id\nORDER BY n DESC, organization_id\nLIMIT ?", args: append(args, uint64(limit)+1)}
	n, err := c.run(ctx, s, func(r Rows) error {
		var o OrgRow
		if err := r.Scan(&o.OrganizationID, &o.Count, &o.ErrorTypes, &o.Projects, &o.FirstSeen, &o.LastSeen); err != nil {
			return err
		}
		o.FirstSeen, o.LastSeen = o.FirstSeen.UTC(), o.LastSeen.UTC()
		o.Share = float64(o.Count) / float64(res.Total)
		res.Rows = append(res.Rows, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n > limit {
		res.Rows, res.Truncated = res.Rows[:limit], true
	}
	return res, nil
}

// Explanation is an error type's catalog entry with its recent numbers.
type Explanation struct {
	ErrorType     string        `json:"error_type"`
	Catalog       *CatalogEntry `json:"catalog"` // null when not in the catalog
	Since         time.Time     `json:"since"`
	Until         time.Time     `json:"until"`
	Count         uint64        `json:"count"`
	PreviousCount uint64        `json:"previous_count"`
	Change        *float64      `json:"change"`
	FirstSeen     *time.Time    `json:"first_seen"` // in the window
	LastSeen      *time.Time    `json:"last_seen"`
	TopOrgs       []OrgRow      `json:"top_orgs"`
}

// Explain returns the catalog entry of errorType with its count in the window, the window
// before, and the organizations it hits most (up to orgs of them).
func (c *Client) Explain(ctx context.Context, errorType string, f Filter, orgs int) (*Explanation, error) {
	if errorType == "" {
		return nil, fmt.Errorf("explain: empty error type")
	}
	f.ErrorType = errorType
	top, err := c.Top(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("explain %s: %w", errorType, err)
	}
	ex := &Explanation{ErrorType: errorType, Since: f.Since, Until: f.Until, Count: top.Total, PreviousCount: top.PreviousTotal,
		Change: change(top.Total, top.PreviousTotal), TopOrgs: []OrgRow{}}
	cat, err := c.catalogFor(ctx, []string{errorType})
	if err != nil {
		return nil, err
	}
	if e, ok := cat[errorType]; ok {
		ex.Catalog = &e
	}
	if ex.Count > 0 {
		o, err := c.Orgs(ctx, f, orgs)
		if err != nil {
			return nil, fmt.Errorf("explain %s: %w", errorType, err)
		}
		ex.TopOrgs = o.Rows
		for _, r := range o.Rows {
			first, last := r.FirstSeen, r.LastSeen
			if ex.FirstSeen == nil || first.Before(*ex.FirstSeen) {
				ex.FirstSeen = &first
			}
			if ex.LastSeen == nil || last.After(*ex.LastSeen) {
				ex.LastSeen = &last
			}
		}
	}
	return ex, nil
}

// UnknownRow is an error type seen in events but absent from the catalog.
type UnknownRow struct {
	ErrorType     string    `json:"error_type"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	Count         uint64    `json:"count"`
	StatusCode    uint16    `json:"status_code"`
	SampleMessage string    `json:"sample_message"`
	SampleRequest string    `json:"sample_request_id"`
}

// Unknown lists error types the ingester did not find in its catalog and that the current
// catalog table still lacks, busiest first.
func (c *Client) Unknown(ctx context.Context, f Filter) ([]UnknownRow, bool, error) {
	cond, cargs := f.where()
	rng, rargs := timeRange("event_time", f.Since, f.Until)
	s := c.limit(stmt{name: "unknown", sql: `SELECT error_type, min(event_time), max(event_time), count() AS n, any(status_code),
    any(error_message), any(request_id)
FROM ${db}.events
WHERE ` + rng + cond + ` AND known = 0 AND error_type NOT IN (SELECT error_type FROM ${db}.catalog)
GROUP BY error_type
ORDER BY n DESC, error_type`, args: append(rargs, cargs...)})
	var out []UnknownRow
	n, err := c.run(ctx, s, func(r Rows) error {
		var u UnknownRow
		if err := r.Scan(&u.ErrorType, &u.FirstSeen, &u.LastSeen, &u.Count, &u.StatusCode, &u.SampleMessage, &u.SampleRequest); err != nil {
			return err
		}
		u.FirstSeen, u.LastSeen = u.FirstSeen.UTC(), u.LastSeen.UTC()
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	out, cutShort := cut(c, out, n)
	return out, cutShort, nil
}

// QuarantineRow is one rejection reason in a window.
type QuarantineRow struct {
	Reason       string    `json:"reason"`
	Count        uint64    `json:"count"`
	Bytes        uint64    `json:"bytes"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	SampleDetail string    `json:"sample_detail"`
	Samples      []string  `json:"samples"` // up to 3 payloads, cut to 300 bytes
}

// QuarantineSampleBytes is how much of each sample payload is shown.
const QuarantineSampleBytes = 300

// Quarantine counts rejected messages by reason in [f.Since, f.Until), with samples. Only the
// time of f applies: quarantined messages have no parsed fields.
func (c *Client) Quarantine(ctx context.Context, f Filter) ([]QuarantineRow, bool, error) {
	rng, rargs := timeRange("received_at", f.Since, f.Until)
	s := c.limit(stmt{name: "quarantine", sql: `SELECT reason, count() AS n, sum(payload_bytes), min(received_at), max(received_at),
    any(detail), groupArray(3)(substring(payload, 1, ?))
FROM ${db}.quarantine
WHERE ` + rng + `
GROUP BY reason
ORDER BY n DESC, reason`, args: append([]any{uint64(QuarantineSampleBytes)}, rargs...)})
	var out []QuarantineRow
	n, err := c.run(ctx, s, func(r Rows) error {
		var q QuarantineRow
		if err := r.Scan(&q.Reason, &q.Count, &q.Bytes, &q.FirstSeen, &q.LastSeen, &q.SampleDetail, &q.Samples); err != nil {
			return err
		}
		q.FirstSeen, q.LastSeen = q.FirstSeen.UTC(), q.LastSeen.UTC()
		out = append(out, q)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	out, cutShort := cut(c, out, n)
	return out, cutShort, nil
}
