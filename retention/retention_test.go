package retention_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/retention"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestExpired(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		id   uint64
		by   retention.Granularity
		keep time.Duration
		want bool
	}{
		{20261001, retention.Daily, 30 * retention.Day, true},
		{20261020, retention.Daily, 30 * retention.Day, true},   // ends 10-21 00:00, cutoff 10-21 12:00
		{20261021, retention.Daily, 30 * retention.Day, false},  // its last rows are younger than 30 days
		{20261119, retention.Daily, 0, false},                   // 0 keeps forever
		{20261112, retention.Daily, 7 * retention.Day, true},    // ends 11-13 00:00 < cutoff 11-13 12:00
		{20261113, retention.Daily, 7 * retention.Day, false},   // a partition never goes early
		{202609, retention.Monthly, 30 * retention.Day, true},   // ends 10-01
		{202610, retention.Monthly, 30 * retention.Day, false},  // ends 11-01, after the cutoff 10-21
		{202509, retention.Monthly, 400 * retention.Day, true},  // ends 2025-10-01, before the cutoff 2025-10-16
		{202510, retention.Monthly, 400 * retention.Day, false}, // October 2025 still holds rows younger than the cutoff
		{202511, retention.Monthly, 400 * retention.Day, false}, // ends 2025-12-01, after the cutoff 2025-10-16
	} {
		got, err := retention.Expired(c.id, c.by, c.keep, now)
		if err != nil {
			t.Fatalf("Expired(%d): %v", c.id, err)
		}
		if got != c.want {
			t.Errorf("Expired(%d, keep %s) = %v, want %v", c.id, c.keep, got, c.want)
		}
	}
	for _, bad := range []struct {
		id uint64
		by retention.Granularity
	}{{2026101, retention.Daily}, {20261301, retention.Daily}, {20261001, retention.Monthly}, {202613, retention.Monthly}} {
		if _, err := retention.Expired(bad.id, bad.by, retention.Day, now); err == nil {
			t.Errorf("partition %d accepted", bad.id)
		}
	}
}

// fill inserts rows at fixed days into events (and so the rollup) and quarantine.
func fill(t *testing.T, ex schema.Executor, db string) {
	t.Helper()
	ctx := context.Background()
	for _, day := range []string{"2026-10-01", "2026-10-25", "2026-11-19"} {
		if err := ex.Exec(ctx, "INSERT INTO "+db+".events (event_time, ingested_at, error_type, status_code) SELECT toDateTime('"+day+" 10:00:00') AS t, t, 'billing_not_verified', 400"); err != nil {
			t.Fatal(err)
		}
	}
	for _, day := range []string{"2026-11-10", "2026-11-15"} {
		if err := ex.Exec(ctx, "INSERT INTO "+db+".quarantine (received_at, reason, payload) SELECT toDateTime('"+day+" 10:00:00'), 'not_json_object', 'x'"); err != nil {
			t.Fatal(err)
		}
	}
}

func count(t *testing.T, ex schema.Executor, sql string) uint64 {
	t.Helper()
	v, err := ex.QueryUint64s(context.Background(), sql)
	if err != nil || len(v) != 1 {
		t.Fatalf("%s: %v %v", sql, v, err)
	}
	return v[0]
}

// TestDropPartitions runs retention on ClickHouse 18.16 and 26.7: a dry run lists, a run drops
// exactly the expired day partitions, a second run finds nothing.
func TestDropPartitions(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	p := retention.Policy{Events: 30 * retention.Day, Quarantine: 7 * retention.Day, Rollup: 400 * retention.Day}
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (schema.Executor, string)
	}{
		{"clickhouse-server 18.16", func(t *testing.T) (schema.Executor, string) {
			ch := testenv.ClickHouse(t)
			return schema.Native(ch.Conn), ch.Database
		}},
		{"clickhouse 26.7 (chDB)", func(t *testing.T) (schema.Executor, string) {
			s := testenv.CHDB(t)
			db := "fl_retention_" + time.Now().Format("150405")
			t.Cleanup(func() { _ = s.Exec("DROP DATABASE IF EXISTS " + db) })
			return s.Executor(), db
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, db := tc.open(t)
			if _, err := schema.Migrate(ctx, ex, db); err != nil {
				t.Fatal(err)
			}
			fill(t, ex, db)

			dry, err := retention.Run(ctx, ex, db, schema.Cluster{}, p, now, true)
			if err != nil {
				t.Fatal(err)
			}
			// stored_offsets keeps the longer of the two retentions (30 days): one day goes.
			want := "events/20261001(1) quarantine/20261110(1) stored_offsets/20261001(1)"
			if got := drops(dry); got != want {
				t.Fatalf("dry run %s, want %s", got, want)
			}
			if n := count(t, ex, "SELECT count() FROM "+db+".events"); n != 3 {
				t.Fatalf("dry run removed rows: %d events left", n)
			}

			done, err := retention.Run(ctx, ex, db, schema.Cluster{}, p, now, false)
			if err != nil || drops(done) != want {
				t.Fatalf("run: %s, %v; want %s", drops(done), err, want)
			}
			if n := count(t, ex, "SELECT count() FROM "+db+".events WHERE event_time < toDateTime('2026-10-02 00:00:00')"); n != 0 {
				t.Errorf("%d expired events left", n)
			}
			if n := count(t, ex, "SELECT count() FROM "+db+".events"); n != 2 {
				t.Errorf("%d events left, want 2", n)
			}
			if n := count(t, ex, "SELECT count() FROM "+db+".quarantine"); n != 1 {
				t.Errorf("%d quarantine rows left, want 1", n)
			}
			// The rollup keeps 400 days: both months stay.
			if n := count(t, ex, "SELECT toUInt64(sum(events)) FROM "+db+".events_per_minute"); n != 3 {
				t.Errorf("rollup holds %d events, want 3", n)
			}
			again, err := retention.Run(ctx, ex, db, schema.Cluster{}, p, now, false)
			if err != nil || len(again) != 0 {
				t.Errorf("second run: %v, %v", again, err)
			}
		})
	}
}

func drops(ds []retention.Drop) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Table+"/"+strconv.FormatUint(d.Partition, 10)+"("+strconv.FormatUint(d.Rows, 10)+")")
	}
	return strings.Join(parts, " ")
}

// TestTTL: 18.16 gets no TTL (partition drops are its retention); on 26.7 ApplyTTL sets one per
// table and a merge removes expired rows by itself.
func TestTTL(t *testing.T) {
	ctx := context.Background()
	p := retention.Policy{Events: 30 * retention.Day, Quarantine: 7 * retention.Day, Rollup: 400 * retention.Day}

	ch := testenv.ClickHouse(t)
	native := schema.Native(ch.Conn)
	if _, err := schema.Migrate(ctx, native, ch.Database); err != nil {
		t.Fatal(err)
	}
	applied, err := retention.ApplyTTL(ctx, native, ch.Database, schema.Cluster{}, p)
	if err != nil || applied {
		t.Fatalf("18.16: ApplyTTL = %v, %v; want false, nil", applied, err)
	}

	s := testenv.CHDB(t)
	db := "fl_ttl_" + time.Now().Format("150405")
	t.Cleanup(func() { _ = s.Exec("DROP DATABASE IF EXISTS " + db) })
	ex := s.Executor()
	if _, err := schema.Migrate(ctx, ex, db); err != nil {
		t.Fatal(err)
	}
	applied, err = retention.ApplyTTL(ctx, ex, db, schema.Cluster{}, p)
	if err != nil || !applied {
		t.Fatalf("26.7: ApplyTTL = %v, %v; want true", applied, err)
	}
	for table, want := range map[string]string{
		"events":            "TTL event_time + toIntervalDay(30)",
		"quarantine":        "TTL received_at + toIntervalDay(7)",
		"events_per_minute": "TTL minute + toIntervalDay(400)",
	} {
		out, err := s.Query("SHOW CREATE TABLE "+db+"."+table, "TSVRaw")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, want) {
			t.Errorf("%s: no %q in\n%s", table, want, out)
		}
	}
	// Rows older than the TTL go at the next merge, whatever their partition.
	if err := s.Exec("INSERT INTO " + db + ".events (event_time, error_type, status_code) VALUES (now() - INTERVAL 40 DAY, 'old', 400), (now() - INTERVAL 1 DAY, 'young', 400)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec("OPTIMIZE TABLE " + db + ".events FINAL"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ex, "SELECT count() FROM "+db+".events WHERE error_type = 'old'"); n != 0 {
		t.Errorf("%d rows past the TTL left after a merge", n)
	}
	if n := count(t, ex, "SELECT count() FROM "+db+".events WHERE error_type = 'young'"); n != 1 {
		t.Errorf("%d young rows, want 1", n)
	}
	// Retention 0 removes the TTL again.
	if _, err := retention.ApplyTTL(ctx, ex, db, schema.Cluster{}, retention.Policy{}); err != nil {
		t.Fatal(err)
	}
	out, _ := s.Query("SHOW CREATE TABLE "+db+".events", "TSVRaw")
	if strings.Contains(out, "TTL ") {
		t.Errorf("retention 0 left a TTL:\n%s", out)
	}
}

// TestSchedule: the ingester's schedule drops what is past retention at once, counts it, and
// stops with its context.
func TestSchedule(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ex := schema.Native(ch.Conn)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, ex, ch.Database); err != nil {
		t.Fatal(err)
	}
	old := time.Now().UTC().AddDate(0, 0, -40).Format("2006-01-02 15:04:05")
	if err := ex.Exec(ctx, "INSERT INTO "+ch.Database+".events (event_time, error_type, status_code) SELECT toDateTime('"+old+"'), 'x', 400"); err != nil {
		t.Fatal(err)
	}
	if err := ex.Exec(ctx, "INSERT INTO "+ch.Database+".events (event_time, error_type, status_code) SELECT now(), 'x', 400"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	m := retention.NewMetrics(reg)
	sctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		retention.Schedule(sctx, ex, ch.Database, schema.Cluster{}, retention.Policy{Events: 30 * retention.Day}, 50*time.Millisecond, m, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(m.Runs.WithLabelValues("ok")) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Schedule did not stop with its context")
	}
	if got := testutil.ToFloat64(m.Dropped.WithLabelValues("events")); got != 1 {
		t.Errorf("events partitions dropped %v, want 1 (and not again on later runs)", got)
	}
	if got := testutil.ToFloat64(m.Rows.WithLabelValues("events")); got != 1 {
		t.Errorf("rows dropped %v, want 1", got)
	}
	if n := count(t, ex, "SELECT count() FROM "+ch.Database+".events"); n != 1 {
		t.Errorf("%d events left, want the recent one", n)
	}
	if got := testutil.ToFloat64(m.Runs.WithLabelValues("error")); got != 0 {
		t.Errorf("%v failed runs", got)
	}
}

// TestDropPartitionsOnCluster runs retention on the 2x2 cluster: the partitions of every
// shard's local tables are listed (rows counted once per shard, not per replica), dropped ON
// CLUSTER, and gone from every replica.
func TestDropPartitionsOnCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := testenv.ClickHouseCluster(t)
	cl := db.Migrate(t)
	ex := schema.Native(db.Conn)
	// Rows straight into each shard's local tables: shard 1 is node 0, shard 2 node 2. The
	// expired day 2026-10-01 is on both shards, the quarantine's expired day on shard 2 only.
	fillShard := func(node int, eventDays, quarantineDays []string) {
		t.Helper()
		conn := db.NodeConn(t, node)
		for _, day := range eventDays {
			if err := conn.Exec(ctx, "INSERT INTO events_local (event_time, ingested_at, error_type, status_code, kafka_partition) SELECT toDateTime('"+day+" 10:00:00') AS t, t, 'billing_not_verified', 400, "+strconv.Itoa(node)); err != nil {
				t.Fatal(err)
			}
		}
		for _, day := range quarantineDays {
			if err := conn.Exec(ctx, "INSERT INTO quarantine_local (received_at, reason, payload) SELECT toDateTime('"+day+" 10:00:00'), 'not_json_object', 'x"+strconv.Itoa(node)+"'"); err != nil {
				t.Fatal(err)
			}
		}
	}
	fillShard(0, []string{"2026-10-01", "2026-11-19"}, []string{"2026-11-15"})
	fillShard(2, []string{"2026-10-01", "2026-10-25"}, []string{"2026-11-10"})
	local := []string{"events_local", "quarantine_local", "stored_offsets_local", "events_per_minute_local"}
	db.SyncReplicas(t, local...)

	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	p := retention.Policy{Events: 30 * retention.Day, Quarantine: 7 * retention.Day, Rollup: 400 * retention.Day}
	want := "events/20261001(2) quarantine/20261110(1) stored_offsets/20261001(2)"
	dry, err := retention.Run(ctx, ex, db.Database, cl, p, now, true)
	if err != nil || drops(dry) != want {
		t.Fatalf("dry run: %s, %v; want %s", drops(dry), err, want)
	}
	done, err := retention.Run(ctx, ex, db.Database, cl, p, now, false)
	if err != nil || drops(done) != want {
		t.Fatalf("run: %s, %v; want %s", drops(done), err, want)
	}
	db.SyncReplicas(t, local...)
	// What each replica holds afterwards, shard 1 then shard 2 (stored_offsets has a row for
	// each event and quarantine row; the rollup keeps its 400 days).
	wantLeft := map[string][2]uint64{"events_local": {1, 1}, "quarantine_local": {1, 0}, "stored_offsets_local": {2, 2}, "events_per_minute_local": {2, 2}}
	for i, n := range db.Nodes {
		conn := db.NodeConn(t, i)
		for table, per := range wantLeft {
			var got uint64
			q := "SELECT count() FROM " + table
			if table == "events_per_minute_local" {
				q = "SELECT toUInt64(sum(events)) FROM " + table
			}
			if err := conn.QueryRow(ctx, q).Scan(&got); err != nil {
				t.Fatalf("%s on %s: %v", q, n.Name, err)
			}
			if want := per[n.Shard-1]; got != want {
				t.Errorf("%s on %s (shard %d): %d left, want %d", table, n.Name, n.Shard, got, want)
			}
		}
	}
	again, err := retention.Run(ctx, ex, db.Database, cl, p, now, false)
	if err != nil || len(again) != 0 {
		t.Errorf("second run: %v, %v", again, err)
	}
}
