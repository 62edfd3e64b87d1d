package pipeline

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
)

// A block that landed in a Replicated table without its views (the insert failed after the
// commit, and the accepted repeat was dropped as a duplicate, which 18.16 does not pass to
// views) gets them from afterRepeat: stored_offsets and the rollup hold it once, and a second
// check writes nothing. The replica the check asks first (the last listed: inserts go to the
// first) is not fetching the events, so the check has to read the one that synced.
func TestClusterViewsOfABlockThatLandedWithout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, r1, r2 := laggingShard(ctx, t, "events_local")
	exec := func(conn driver.Conn, q string) {
		t.Helper()
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	m := newWriterMetrics(prometheus.NewRegistry())
	base, err := newSink(ctx, r1, WriterConfig{Database: db.Database, InsertTimeout: 2 * time.Second,
		Retry: RetryConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}}, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sink := base.shardSink(r1, []driver.Conn{r1, r2}, 1, func(table string) string { return table + "_local" }, false)

	at := time.Now().UTC().Truncate(time.Second)
	bufs := &batchBufs{}
	const n = 50
	for o := range n {
		r := &Row{Topic: "api-errors", Partition: 3, Offset: int64(o), KafkaTime: at, Accepted: true,
			Event: event.Event{Time: at.Add(-time.Duration(o%3) * time.Minute), StatusCode: 400, ErrorType: "billing_not_verified",
				RequestID: "req", Environment: "production", Category: "billing", Actor: "user"}}
		r.fingerprint = uint64(o + 1)
		bufs.ev.add(r, at)
	}
	rows := allRows(n)
	const id = 0x5eed
	// The block lands on replica 1 with no view to feed, as when the insert fails between
	// the table's commit and the views'.
	exec(r1, "DETACH TABLE "+db.Database+".events_offsets_mv")
	exec(r1, "DETACH TABLE "+db.Database+".events_per_minute_mv")
	if err := sink.insert(ctx, tableEvents, &bufs.ev, rows, id, at); err != nil {
		t.Fatalf("insert: %v", err)
	}
	exec(r1, "ATTACH TABLE "+db.Database+".events_offsets_mv")
	exec(r1, "ATTACH TABLE "+db.Database+".events_per_minute_mv")
	// The repeat is dropped as a duplicate block, and feeds no view either.
	if err := sink.insert(ctx, tableEvents, &bufs.ev, rows, id, at); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	offsets := func() int64 {
		return testenv.QueryInt(t, r1, "SELECT toUInt64(count()) FROM "+db.Database+".stored_offsets_local WHERE kafka_partition = 3")
	}
	rolled := func() int64 {
		return testenv.QueryInt(t, r1, "SELECT toUInt64(sum(events)) FROM "+db.Database+".events_per_minute_local")
	}
	if got := testenv.QueryInt(t, r1, "SELECT toUInt64(count()) FROM "+db.Database+".events_local"); got != n {
		t.Fatalf("events_local holds %d rows, want %d", got, n)
	}
	if o, r := offsets(), rolled(); o != 0 || r != 0 {
		t.Fatalf("views fed before the check: stored_offsets %d, rollup %d", o, r)
	}

	for check := 1; check <= 2; check++ {
		w := &tableWrite{sink: sink, at: at, res: &Result{}, ev: &bufs.ev, q: &bufs.q}
		if err := w.afterRepeat(ctx, tableEvents, rows, id); err != nil {
			t.Fatalf("check %d: %v", check, err)
		}
		if o, r := offsets(), rolled(); o != n || r != n {
			t.Fatalf("after check %d: stored_offsets %d rows, rollup %d events; want %d and %d", check, o, r, n, n)
		}
	}
	if got := testutil.ToFloat64(m.ViewsRepaired.WithLabelValues(tableEvents)); got != 1 {
		t.Errorf("views_repaired_total{events} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.ViewsUnchecked.WithLabelValues(tableEvents)); got != 0 {
		t.Errorf("views_unchecked_total{events} = %v, want 0", got)
	}
}
