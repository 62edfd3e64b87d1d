package query

import (
	"context"
	"testing"
	"time"
)

var catalogCols = []string{"error_type", "status_code", "category", "actor", "description", "error_message",
	"error_url", "remediation", "common_causes", "troubleshooting", "source", "catalog_version", "updated_at"}

// catalogRow is one write of an entry into the catalog table, as the ingester's sync does.
func catalogRow(typ, category, actor, remediation, version string, at time.Time) []any {
	return []any{typ, uint16(400), category, actor, "", "", "", remediation, []string{}, []string{}, "docs", version, at}
}

// TestCatalogChangeReachesOldRows on ClickHouse 18.16 and chDB 26.7: events stored under one
// category show the category of the current catalog in top and explain once the catalog table
// holds a newer entry (what the ingester's catalog sync writes at start), while the rows keep
// what they were stamped with.
func TestCatalogChangeReachesOldRows(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			var ev [][]any
			for i := range 3 {
				ev = append(ev, []any{now.Add(-time.Duration(i+1) * time.Minute), "billing_not_verified", uint16(400), "billing", "client"})
			}
			b.insert(t, "events", []string{"event_time", "error_type", "status_code", "category", "actor"}, ev)
			b.insert(t, "catalog", catalogCols, [][]any{catalogRow("billing_not_verified", "billing", "client", "old advice", "v1", now.Add(-time.Hour))})
			b.insert(t, "catalog", catalogCols, [][]any{catalogRow("billing_not_verified", "account", "operator", "new advice", "v2", now.Add(-time.Minute))})
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

// TestCategoryFilterFollowsCatalog on ClickHouse 18.16 and chDB 26.7: after a catalog entry
// moves to another category, every reader that filters by category (top, orgs, trend from
// the events and from the rollup, spikes from the rollup and from events, incident, show)
// finds its old rows under the new category and no longer under the old one, which an older
// row of the catalog table still holds; a type outside the catalog keeps its stamped category.
func TestCategoryFilterFollowsCatalog(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const (
		moved   = "billing_not_verified" // stamped billing, now account
		stays   = "duplicate_email"      // stamped members, still members
		outside = "mystery_error"        // not in the catalog: stamped billing, stays billing
	)
	cols := []string{"event_time", "error_type", "status_code", "category", "actor", "known", "environment", "organization_id", "request_id"}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			var ev [][]any
			add := func(n int, typ, category, org string, known uint8, from time.Time) {
				for i := range n {
					ev = append(ev, []any{from.Add(time.Duration(i) * time.Minute), typ, uint16(400), category, "account_admin", known, "live", org,
						typ + "-" + from.Add(time.Duration(i)*time.Minute).Format("1504")})
				}
			}
			// In the last 3 hours; one event 5h back records the spikes' preceding period.
			add(6, moved, "billing", "org-moved", 1, now.Add(-3*time.Hour))
			add(4, stays, "members", "org-stays", 1, now.Add(-2*time.Hour))
			add(2, outside, "billing", "org-outside", 0, now.Add(-90*time.Minute))
			add(1, stays, "members", "org-stays", 1, now.Add(-5*time.Hour))
			b.insert(t, "events", cols, ev)
			// Two inserts, two parts: the older entry stays until a merge (FINAL must ignore it).
			b.insert(t, "catalog", catalogCols, [][]any{
				catalogRow(moved, "billing", "account_admin", "old", "v1", now.Add(-4*time.Hour)),
				catalogRow(stays, "members", "developer", "", "v1", now.Add(-4*time.Hour)),
			})
			b.insert(t, "catalog", catalogCols, [][]any{catalogRow(moved, "account", "developer", "new", "v2", now.Add(-time.Minute))})
			c, err := New(b.db, b.database, Options{MaxRows: 100, Timeout: 30 * time.Second, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				category string
				want     map[string]uint64 // events per type in the last 4 hours
			}{
				{"account", map[string]uint64{moved: 6}},
				{"billing", map[string]uint64{outside: 2}},
				{"members", map[string]uint64{stays: 4}},
				{"unknown", map[string]uint64{}},
				{"billing' OR 1=1 --", map[string]uint64{}}, // bound, never SQL text
			} {
				f := Filter{Since: now.Add(-4 * time.Hour), Until: now, Category: tc.category}
				var total uint64
				for _, n := range tc.want {
					total += n
				}
				top, err := c.Top(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]uint64{}
				for _, r := range top.Rows {
					got[r.ErrorType] = r.Count
				}
				if !sameCounts(got, tc.want) || top.Total != total {
					t.Errorf("top --category %s: %v (total %d), want %v", tc.category, got, top.Total, tc.want)
				}
				for _, r := range top.Rows {
					if r.Category != tc.category {
						t.Errorf("top --category %s shows %s as %s", tc.category, r.ErrorType, r.Category)
					}
				}

				orgs, err := c.Orgs(ctx, f, 10)
				if err != nil {
					t.Fatal(err)
				}
				if orgs.Total != total {
					t.Errorf("orgs --category %s: total %d, want %d (%+v)", tc.category, orgs.Total, total, orgs.Rows)
				}

				// A 4h range has 5-minute buckets: read from the rollup; with an org filter
				// (which the rollup lacks) from events.
				for _, org := range []string{"", "org-moved", "org-outside"} {
					g := f
					g.Org = org
					tr, err := c.Trend(ctx, g, 5)
					if err != nil {
						t.Fatal(err)
					}
					if tr.FromRollup != (org == "") {
						t.Fatalf("trend org %q: from rollup %v", org, tr.FromRollup)
					}
					want := map[string]uint64{}
					for typ, n := range tc.want {
						if org == "" || org == "org-"+map[string]string{moved: "moved", stays: "stays", outside: "outside"}[typ] {
							want[typ] = n
						}
					}
					got := map[string]uint64{}
					for _, s := range tr.Types {
						got[s.ErrorType] = s.Total
					}
					if !sameCounts(got, want) {
						t.Errorf("trend --category %s org %q (rollup %v): %v, want %v", tc.category, org, tr.FromRollup, got, want)
					}
				}

				// Spikes over the last 4h against the 2h before: candidates are the types
				// with at least one event in the window, and with these bounds every one
				// is a spike, shown with its current category (stamped outside the catalog).
				p := SpikeParams{Window: 4 * time.Hour, Preceding: 2 * time.Hour, Alpha: 0.99, MinCount: 1, MinRatio: 1}
				for _, org := range []string{"", "org-outside"} {
					g := Filter{Until: now, Category: tc.category, Org: org}
					sp, err := c.Spikes(ctx, g, p)
					if err != nil {
						t.Fatal(err)
					}
					want := len(tc.want)
					if org != "" {
						want = 0
						if tc.want[outside] > 0 {
							want = 1
						}
					}
					if sp.FromRollup != (org == "") || sp.Candidates != want || len(sp.Spikes) != want {
						t.Errorf("spikes --category %s org %q: %d candidates, %d spikes (rollup %v), want %d", tc.category, org, sp.Candidates, len(sp.Spikes), sp.FromRollup, want)
					}
					for _, s := range sp.Spikes {
						if s.Category != tc.category {
							t.Errorf("spikes --category %s shows %s as %q", tc.category, s.ErrorType, s.Category)
						}
					}
				}

				inc, err := c.Incident(ctx, f, p, 10)
				if err != nil {
					t.Fatal(err)
				}
				if inc.Judged.Candidates != len(tc.want) {
					t.Errorf("incident --category %s: %d candidates, want %d", tc.category, inc.Judged.Candidates, len(tc.want))
				}
			}

			evs, _, err := c.Show(ctx, moved+"-0900", Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Category != "account" || evs[0].Actor != "developer" || evs[0].StampedCategory != "billing" ||
				evs[0].StampedActor != "account_admin" {
				t.Errorf("show %+v, want current account/developer and stamped billing/account_admin", evs)
			}
			evs, _, err = c.Show(ctx, outside+"-1030", Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Category != "billing" || evs[0].Catalog != nil {
				t.Errorf("show of a type outside the catalog %+v, want its stamped billing", evs)
			}
		})
	}
}

func sameCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
