package query

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// clusterOf copies the single server's fixture into a database on the 2x2 cluster,
// migrated for the cluster, through remote() (as README's move to cluster mode does),
// and returns a client reading its Distributed tables.
func clusterOf(t *testing.T, single *backend) *Client {
	t.Helper()
	ctx := context.Background()
	db := testenv.ClickHouseCluster(t)
	db.Migrate(t)
	db.CopyFrom(t, single.addr, single.database, []string{"events", "quarantine", "catalog"},
		[]string{"events_local", "quarantine_local", "events_per_minute_local", "stored_offsets_local", "catalog"})
	// Every shard holds some of the events: the answers below are merged from both.
	for shard := 1; shard <= testenv.ClusterShards; shard++ {
		n := db.ShardNodes(shard)[0]
		var rows uint64
		for i, m := range db.Nodes {
			if m == n {
				if err := db.NodeConn(t, i).QueryRow(ctx, "SELECT count() FROM events_local").Scan(&rows); err != nil {
					t.Fatal(err)
				}
			}
		}
		if rows == 0 {
			t.Fatalf("shard %d holds no events: the fixture does not spread", shard)
		}
	}
	c, err := New(Native(db.Conn), db.Database, Options{MaxRows: 100, Timeout: 30 * time.Second, Now: func() time.Time { return fixtureNow }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every query answers the same on the 2x2 cluster, reading Distributed tables over two
// shards, as on one server holding the same rows; and the answers are the fixture's
// (the single-server assertions pass on the cluster too).
func TestClusterAnswersEqualSingleServer(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	single := serverBackend(t)
	fx.plant(t, single)
	sc, err := New(single.db, single.database, Options{MaxRows: 100, Timeout: 30 * time.Second, Now: func() time.Time { return fixtureNow }})
	if err != nil {
		t.Fatal(err)
	}
	cc := clusterOf(t, single)

	// Answers compared whole: every query of the on-call CLI with filters that take
	// the raw events and the rollup paths.
	type answer func(c *Client) (any, error)
	p := DefaultSpikeParams()
	queries := map[string]answer{}
	for _, f := range []Filter{day(Filter{}), day(Filter{Env: "test"}), day(Filter{Org: "org-2"}), {Since: fixtureNow.Add(-8 * 24 * time.Hour), Until: fixtureNow}} {
		queries[fmt.Sprintf("top %+v", f)] = func(c *Client) (any, error) { return c.Top(ctx, f) }
		queries[fmt.Sprintf("trend %+v", f)] = func(c *Client) (any, error) { return c.Trend(ctx, f, 3) }
		queries[fmt.Sprintf("orgs %+v", f)] = func(c *Client) (any, error) { return c.Orgs(ctx, f, 10) }
		queries[fmt.Sprintf("unknown %+v", f)] = func(c *Client) (any, error) { r, tr, err := c.Unknown(ctx, f); return []any{r, tr}, err }
		queries[fmt.Sprintf("quarantine %+v", f)] = func(c *Client) (any, error) { r, tr, err := c.Quarantine(ctx, f); return []any{r, tr}, err }
		queries[fmt.Sprintf("drift %+v", f)] = func(c *Client) (any, error) { r, tr, err := c.Drift(ctx, f, 1); return []any{r, tr}, err }
	}
	for _, f := range []Filter{{}, {Org: "org-acme"}, {Until: fixtureNow.Add(-24 * time.Hour)}} {
		queries[fmt.Sprintf("spikes %+v", f)] = func(c *Client) (any, error) { return c.Spikes(ctx, f, p) }
	}
	hour := Filter{Since: fixtureNow.Add(-time.Hour), Until: fixtureNow}
	for _, f := range []Filter{hour, {Since: hour.Since, Until: hour.Until, Org: "org-acme"}} {
		queries[fmt.Sprintf("incident %+v", f)] = func(c *Client) (any, error) { return c.Incident(ctx, f, p, 5) }
	}
	queries["show"] = func(c *Client) (any, error) {
		r, tr, err := c.Show(ctx, "req-show-1", day(Filter{}))
		return []any{r, tr}, err
	}
	queries["explain"] = func(c *Client) (any, error) { return c.Explain(ctx, fx.spiky, day(Filter{}), 5) }
	queries["known entries"] = func(c *Client) (any, error) { return c.KnownEntries(ctx) }
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			want, err := q(sc)
			if err != nil {
				t.Fatalf("single server: %v", err)
			}
			got, err := q(cc)
			if err != nil {
				t.Fatalf("cluster: %v", err)
			}
			// Samples are any() picks, arbitrary on one server too (they follow part
			// order): compared apart, as values of the same group.
			gs, ws := samples(reflect.ValueOf(got)), samples(reflect.ValueOf(want))
			if len(gs) != len(ws) {
				t.Errorf("%d samples on the cluster, %d on the single server", len(gs), len(ws))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("cluster answer differs\n cluster: %s\n  single: %s", show(got), show(want))
			}
		})
	}
	t.Run("fixture answers on the cluster", func(t *testing.T) {
		t.Run("top", func(t *testing.T) { testTop(t, ctx, fx, cc) })
		t.Run("spikes", func(t *testing.T) { testSpikes(t, ctx, fx, cc) })
		t.Run("trend", func(t *testing.T) { testTrend(t, ctx, fx, cc) })
		t.Run("show", func(t *testing.T) { testShow(t, ctx, fx, cc) })
		t.Run("explain", func(t *testing.T) { testExplain(t, ctx, fx, cc) })
		t.Run("unknown", func(t *testing.T) { testUnknown(t, ctx, fx, cc) })
		t.Run("quarantine", func(t *testing.T) { testQuarantine(t, ctx, cc) })
		t.Run("orgs", func(t *testing.T) { testOrgs(t, ctx, fx, cc) })
		t.Run("drift", func(t *testing.T) { testDrift(t, ctx, fx, cc) })
		t.Run("incident", func(t *testing.T) { testIncident(t, ctx, fx, cc) })
	})
}

// samples takes the values of every struct field named Sample* out of v (zeroing
// them) and returns them.
func samples(v reflect.Value) []any {
	var out []any
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			out = append(out, samples(v.Elem())...)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			out = append(out, samples(v.Index(i))...)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if strings.HasPrefix(v.Type().Field(i).Name, "Sample") && f.CanSet() {
				out = append(out, f.Interface())
				f.SetZero()
				continue
			}
			out = append(out, samples(f)...)
		}
	}
	return out
}

// show prints an answer with what its pointers point to.
func show(v any) string { return fmt.Sprintf("%+v", deref(reflect.ValueOf(v))) }

func deref(v reflect.Value) any {
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil
	}
	return v.Interface()
}
