package dashboards

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// Every ClickHouse panel gives the same rows on the 2x2 cluster, whose Distributed tables
// hold the single server's fixture copied through remote(), as on the single server.
func TestClickHousePanelsOnClusterEqualSingleServer(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for _, stmt := range fixture(ch.Database) {
		if err := ch.Conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("fixture: %v\n%s", err, stmt)
		}
	}
	db := testenv.ClickHouseCluster(t)
	db.Migrate(t)
	db.CopyFrom(t, ch.Addr, ch.Database, []string{"events", "quarantine", "catalog"},
		[]string{"events_local", "quarantine_local", "events_per_minute_local", "stored_offsets_local", "catalog"})

	now := time.Now()
	single := chQueriesAt(t, ch.Database, now)
	cluster := chQueriesAt(t, db.Database, now)
	for name, sql := range single {
		t.Run(name, func(t *testing.T) {
			want := httpRows(t, ch.HTTPAddr, ch.Database, sql)
			got := httpRows(t, db.Nodes[0].HTTPAddr, db.Database, cluster[name])
			if want == "" {
				t.Fatalf("no rows on the single server\n%s", sql)
			}
			if got != want {
				t.Errorf("cluster rows differ\ncluster:\n%s\nsingle:\n%s\n%s", got, want, sql)
			}
		})
	}
}

// chQueriesAt is chQueries at a given time, so two databases get the same window.
func chQueriesAt(t *testing.T, db string, now time.Time) map[string]string {
	t.Helper()
	vars := PanelVars(db, now)
	out := map[string]string{}
	for file, ts := range committed(t) {
		for _, tg := range ts {
			if tg.Kind != ClickHouseType {
				continue
			}
			sql, err := ExpandSQL(tg.Query, vars)
			if err != nil {
				t.Fatalf("%s / %s: expand: %v", file, tg.Panel, err)
			}
			// The database name is in the SQL; the cluster's differs.
			out[file+" / "+tg.Panel+" / "+tg.RefID] = sql
		}
	}
	return out
}

// httpRows runs sql as the read-only user over HTTP and returns its rows as TSV, sorted
// (a panel's ORDER BY may leave ties in any order), with the database name taken out.
func httpRows(t *testing.T, addr, db, sql string) string {
	t.Helper()
	u := fmt.Sprintf("http://%s/?user=faultline_ro&database=%s&default_format=TSV", addr, url.QueryEscape(db))
	resp, err := http.Post(u, "text/plain", strings.NewReader(sql))
	if err != nil {
		t.Fatalf("query %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query %s: %s: %s\n%s", addr, resp.Status, body, sql)
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(body), db, "<db>")), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
