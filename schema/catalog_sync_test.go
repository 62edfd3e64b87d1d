package schema_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

func loadCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestSyncCatalog runs against clickhouse-server 18.16: the first sync writes every entry,
// a second sync of the same version writes nothing, a different version becomes current, and
// going back to the first version makes it current again.
func TestSyncCatalog(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	full := loadCatalog(t)
	entries := full.Entries()

	rawRows := func() uint64 {
		t.Helper()
		var n uint64
		if err := ch.Conn.QueryRow(ctx, "SELECT count() FROM "+ch.Database+".catalog").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	versions := func() map[string]uint64 {
		t.Helper()
		rows, err := ch.Conn.Query(ctx, "SELECT catalog_version, count() FROM "+ch.Database+".catalog FINAL GROUP BY catalog_version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]uint64{}
		for rows.Next() {
			var v string
			var n uint64
			if err := rows.Scan(&v, &n); err != nil {
				t.Fatal(err)
			}
			out[v] = n
		}
		return out
	}

	if err := schema.SyncCatalog(ctx, ch.Conn, ch.Database, full); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if got := rawRows(); got != uint64(len(entries)) {
		t.Fatalf("after first sync: %d rows, want %d", got, len(entries))
	}
	// One entry read back field by field, arrays included.
	want := entries[0]
	for _, e := range entries {
		if len(e.CommonCauses) > 0 {
			want = e
			break
		}
	}
	var (
		status                            uint16
		category, actor, remediation, url string
		source, version                   string
		causes, troubleshooting           []string
		updated                           time.Time
	)
	err := ch.Conn.QueryRow(ctx, "SELECT status_code, category, actor, remediation, error_url, source, catalog_version, common_causes, troubleshooting, updated_at FROM "+
		ch.Database+".catalog FINAL WHERE error_type = ?", want.ErrorType).
		Scan(&status, &category, &actor, &remediation, &url, &source, &version, &causes, &troubleshooting, &updated)
	if err != nil {
		t.Fatal(err)
	}
	if int(status) != want.StatusCode || category != want.Category || actor != want.Actor || remediation != want.Remediation ||
		url != want.ErrorURL || source != want.Source || version != full.Version() ||
		len(causes) != len(want.CommonCauses) || len(troubleshooting) != len(want.Troubleshooting) {
		t.Errorf("row of %s = %d %q %q %q %q %q %q %v %v, want entry %+v version %s",
			want.ErrorType, status, category, actor, remediation, url, source, version, causes, troubleshooting, want, full.Version())
	}
	if time.Since(updated) > 5*time.Minute || time.Until(updated) > 5*time.Minute {
		t.Errorf("updated_at %v is not about now", updated)
	}

	if err := schema.SyncCatalog(ctx, ch.Conn, ch.Database, full); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	if got := rawRows(); got != uint64(len(entries)) {
		t.Fatalf("second sync of the same version wrote rows: %d rows, want %d", got, len(entries))
	}

	// A different catalog (a subset) becomes current for its entries.
	small, err := catalog.New(entries[:10], nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // updated_at has second resolution
	if err := schema.SyncCatalog(ctx, ch.Conn, ch.Database, small); err != nil {
		t.Fatal(err)
	}
	if v := versions(); v[small.Version()] != 10 || v[full.Version()] != uint64(len(entries)-10) {
		t.Fatalf("after syncing a second version: %v", v)
	}
	// Back to the first: written again and current for every entry.
	time.Sleep(1100 * time.Millisecond)
	if err := schema.SyncCatalog(ctx, ch.Conn, ch.Database, full); err != nil {
		t.Fatal(err)
	}
	if v := versions(); len(v) != 1 || v[full.Version()] != uint64(len(entries)) {
		t.Fatalf("after rolling back: %v", v)
	}
}

func TestSyncCatalogRejectsBadDatabase(t *testing.T) {
	ch := testenv.ClickHouse(t)
	err := schema.SyncCatalog(context.Background(), ch.Conn, "x; DROP TABLE y", loadCatalog(t))
	if err == nil {
		t.Fatal("want an error for an invalid database name")
	}
}
