package query

import (
	"context"
	"time"

	"github.com/faultline/faultline/catalog"
)

// CatalogEntry is an error type's entry as the ingester last wrote it to the catalog table.
type CatalogEntry struct {
	ErrorType       string   `json:"error_type"`
	StatusCode      uint16   `json:"status_code"`
	Category        string   `json:"category"`
	Actor           string   `json:"actor"`
	Description     string   `json:"description"`
	ErrorMessage    string   `json:"error_message"`
	DocsURL         string   `json:"docs_url"`
	Remediation     string   `json:"remediation"`
	CommonCauses    []string `json:"common_causes"`
	Troubleshooting []string `json:"troubleshooting"`
	CatalogVersion  string   `json:"catalog_version"`
}

// catalogFor reads the current entries of the given error types (FINAL: the newest write of
// each type wins).
func (c *Client) catalogFor(ctx context.Context, types []string) (map[string]CatalogEntry, error) {
	out := make(map[string]CatalogEntry, len(types))
	if len(types) == 0 {
		return out, nil
	}
	s := stmt{name: "read catalog", sql: `SELECT error_type, status_code, category, actor, description, error_message,
    error_url, remediation, common_causes, troubleshooting, catalog_version
FROM ${db}.catalog FINAL
WHERE has(?, error_type)`, args: []any{types}}
	_, err := c.run(ctx, s, func(r Rows) error {
		var e CatalogEntry
		if err := r.Scan(&e.ErrorType, &e.StatusCode, &e.Category, &e.Actor, &e.Description, &e.ErrorMessage,
			&e.DocsURL, &e.Remediation, &e.CommonCauses, &e.Troubleshooting, &e.CatalogVersion); err != nil {
			return err
		}
		out[e.ErrorType] = e
		return nil
	})
	return out, err
}

// maxCatalogEntries bounds KnownEntries; the catalog holds hundreds of types, not millions.
const maxCatalogEntries = 100000

// KnownEntries returns every type of the catalog table with its category and actor (other
// fields empty), for guessing the category of unknown types.
func (c *Client) KnownEntries(ctx context.Context) ([]catalog.Entry, error) {
	var out []catalog.Entry
	s := stmt{name: "read catalog categories", sql: `SELECT error_type, category, actor
FROM ${db}.catalog FINAL
ORDER BY error_type
LIMIT ?`, args: []any{uint64(maxCatalogEntries)}}
	_, err := c.run(ctx, s, func(r Rows) error {
		var e catalog.Entry
		if err := r.Scan(&e.ErrorType, &e.Category, &e.Actor); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// stamped is what the ingester stored with a type's events: what is shown for types
// outside the catalog.
type stamped struct {
	Category, Actor string
	StatusCode      uint16
}

// stampedFor reads the stamped category, actor and status of the given types (outside the
// catalog) from their events in [from, to). The primary key starts with error_type, so this
// reads only their rows.
func (c *Client) stampedFor(ctx context.Context, types []string, from, to time.Time) (map[string]stamped, error) {
	out := make(map[string]stamped, len(types))
	if len(types) == 0 {
		return out, nil
	}
	rng, rargs := timeRange("event_time", from, to)
	_, err := c.run(ctx, stmt{name: "types outside the catalog", sql: `SELECT error_type, any(category), any(actor), any(status_code)
FROM ${db}.events
WHERE has(?, error_type) AND ` + rng + `
GROUP BY error_type`, args: append([]any{types}, rargs...)}, func(r Rows) error {
		var (
			t string
			s stamped
		)
		if err := r.Scan(&t, &s.Category, &s.Actor, &s.StatusCode); err != nil {
			return err
		}
		out[t] = s
		return nil
	})
	return out, err
}
