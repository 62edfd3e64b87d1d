package query

import (
	"context"
	"testing"
	"time"
)

// TestCatalogChangeReachesOldRows on ClickHouse 18.16 and chDB 26.7: events stored under one
// category show the category of the current catalog in top and explain once the catalog table
// holds a newer entry (what the ingester's catalog sync writes at start), while the rows keep
// what they were stamped with.
func TestCatalogChangeReachesOldRows(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	catCols := []string{"error_type", "status_code", "category", "actor", "description", "error_message",
		"error_url", "remediation", "common_causes", "troubleshooting", "source", "catalog_version", "updated_at"}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			var ev [][]any
			for i := range 3 {
				ev = append(ev, []any{now.Add(-time.Duration(i+1) * time.Minute), "billing_not_verified", uint16(400), "billing", "client"})
			}
			b.insert(t, "events", []string{"event_time", "error_type", "status_code", "category", "actor"}, ev)
			b.insert(t, "catalog", catCols, [][]any{{"billing_not_verified", uint16(400), "billing", "client", "", "", "", "old advice",
				[]string{}, []string{}, "docs", "v1", now.Add(-time.Hour)}})
			b.insert(t, "catalog", catCols, [][]any{{"billing_not_verified", uint16(400), "account", "operator", "", "", "", "new advice",
				[]string{}, []string{}, "docs", "v2", now.Add(-time.Minute)}})
			c, err := New(b.db, b.database, Options{MaxRows: 100, Timeout: 30 * time.Second, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			f := Filter{Since: now.Add(-time.Hour), Until: now}
			top, err := c.Top(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(top.Rows) != 1 || top.Rows[0].Category != "account" || top.Rows[0].Actor != "operator" || top.Rows[0].Remediation != "new advice" {
				t.Fatalf("top rows %+v, want the current catalog's account/operator/new advice", top.Rows)
			}
			ex, err := c.Explain(ctx, "billing_not_verified", f, 5)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Catalog == nil || ex.Catalog.Category != "account" || ex.Count != 3 {
				t.Fatalf("explain %+v, want 3 events of category account", ex)
			}
		})
	}
}
