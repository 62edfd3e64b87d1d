package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// TestCLICategoryFollowsCatalog on clickhouse-server 18.16 as the read-only user: rows
// stamped with a type's old category are found by --category with its new one once a newer
// catalog entry is written (as an ingester started with the changed catalog does), by top,
// orgs and trend (from the rollup over 3h, from events with --org), and show says both; a
// type outside the catalog keeps its stamped category. The query package checks the same on
// 26.7.
func TestCLICategoryFollowsCatalog(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.SyncCatalog(ctx, ch.Conn, ch.Database, cat); err != nil {
		t.Fatal(err)
	}
	entries := cat.Entries()
	moved := entries[0]
	var to catalog.Entry // a category no entry of the type had
	for _, e := range entries {
		if e.Category != moved.Category {
			to = e
			break
		}
	}
	t.Setenv("FAULTLINE_CLICKHOUSE_ADDR", ch.Addr)
	t.Setenv("FAULTLINE_CLICKHOUSE_DATABASE", ch.Database)

	now := time.Now().UTC().Truncate(time.Second)
	batch, err := ch.Conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".events (event_time, status_code, error_type, request_id, environment, category, actor, known, organization_id, catalog_version)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := batch.Append(now.Add(-time.Duration(i+1)*10*time.Minute), uint16(400), moved.ErrorType, "req-moved-"+strconv.Itoa(i), "live",
			moved.Category, moved.Actor, uint8(1), "org-a", cat.Version()); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Append(now.Add(-20*time.Minute), uint16(400), "brand_new_error", "req-new", "live", "unknown", "unknown", uint8(0), "org-b", cat.Version()); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	// The changed catalog's entry, written later than the sync above.
	cb, err := ch.Conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+`.catalog (error_type, status_code, category, actor, description,
    error_message, error_url, remediation, common_causes, troubleshooting, source, catalog_version, updated_at)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cb.Append(moved.ErrorType, uint16(moved.StatusCode), to.Category, to.Actor, "", "", "", "the new advice",
		[]string{}, []string{}, "overrides", "changed", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := cb.Send(); err != nil {
		t.Fatal(err)
	}

	type row struct {
		ErrorType string `json:"error_type"`
		Count     uint64 `json:"count"`
		Category  string `json:"category"`
	}
	top := func(category string, extra ...string) []row {
		t.Helper()
		out, stderr, code := runCLI(t, append([]string{"top", "--since", "3h", "--category", category, "--format", "json"}, extra...)...)
		var rows []row
		if code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
			t.Fatalf("top --category %s: exit %d %s %s", category, code, out, stderr)
		}
		return rows
	}
	if rows := top(to.Category); len(rows) != 1 || rows[0].ErrorType != moved.ErrorType || rows[0].Count != 8 || rows[0].Category != to.Category {
		t.Errorf("top --category %s (the new one): %+v, want %s with its 8 events", to.Category, rows, moved.ErrorType)
	}
	if rows := top(moved.Category); len(rows) != 0 {
		t.Errorf("top --category %s (the old one): %+v, want nothing", moved.Category, rows)
	}
	if rows := top("unknown"); len(rows) != 1 || rows[0].ErrorType != "brand_new_error" {
		t.Errorf("top --category unknown: %+v, want brand_new_error as stamped", rows)
	}

	for _, c := range []struct {
		category string
		want     uint64
	}{{to.Category, 8}, {moved.Category, 0}} {
		out, stderr, code := runCLI(t, "orgs", "--since", "3h", "--category", c.category, "--format", "json")
		var orgs []struct {
			Count uint64 `json:"count"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &orgs) != nil {
			t.Fatalf("orgs --category %s: exit %d %s %s", c.category, code, out, stderr)
		}
		var n uint64
		for _, o := range orgs {
			n += o.Count
		}
		if n != c.want {
			t.Errorf("orgs --category %s: %d events, want %d", c.category, n, c.want)
		}
		// 3h: 5-minute buckets from the rollup; with --org from events.
		for _, extra := range [][]string{nil, {"--org", "org-a"}} {
			out, stderr, code := runCLI(t, append([]string{"trend", "--since", "3h", "--category", c.category, "--format", "json"}, extra...)...)
			var tr struct {
				Total struct {
					Total uint64 `json:"total"`
				} `json:"total"`
			}
			if code != 0 || json.Unmarshal([]byte(out), &tr) != nil {
				t.Fatalf("trend --category %s %v: exit %d %s %s", c.category, extra, code, out, stderr)
			}
			if tr.Total.Total != c.want {
				t.Errorf("trend --category %s %v: %d events, want %d", c.category, extra, tr.Total.Total, c.want)
			}
		}
	}

	out, _, code := runCLI(t, "show", "req-moved-0", "--format", "json")
	var evs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &evs) != nil || len(evs) != 1 || evs[0]["category"] != to.Category ||
		evs[0]["stamped_category"] != moved.Category || evs[0]["catalog_version"] != cat.Version() {
		t.Errorf("show json: %d %s; want category %s, stamped %s at %s", code, out, to.Category, moved.Category, cat.Version())
	}
	out, _, _ = runCLI(t, "show", "req-moved-0")
	if !strings.Contains(out, "category "+moved.Category+", actor "+moved.Actor) || !strings.Contains(out, "the new advice") {
		t.Errorf("show table does not say what the row was stamped with and the current entry:\n%s", out)
	}
}
