package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/loadgen"
	"github.com/faultline/faultline/schema"
)

// A known stream in, exactly the expected rows out, and metrics that agree.
func TestKnownStreamEndToEnd(t *testing.T) {
	h := newHarness(t, 6)
	h.produce(7, 30000, nil)
	inst, sum := h.drain("e2e")
	h.assertExactlyOnce()

	if sum.Consumed != h.written.Total || sum.Stored != h.written.Accepted || sum.Quarantined != h.written.Rejected {
		t.Fatalf("summary %+v, written %+v", sum, h.written)
	}
	if got := testutil.ToFloat64(inst.m.RowsStored.WithLabelValues("events")); int64(got) != h.written.Accepted {
		t.Errorf("rows_stored_total{events} = %v, want %d", got, h.written.Accepted)
	}
	for reason, n := range h.written.ByReason {
		if got := testutil.ToFloat64(inst.m.Rejected.WithLabelValues(reason)); int64(got) != n {
			t.Errorf("rejected_total{%s} = %v, want %d", reason, got, n)
		}
	}
	for flag, n := range h.written.ByFlag {
		if got := testutil.ToFloat64(inst.m.Flagged.WithLabelValues(flag)); int64(got) != n {
			t.Errorf("flagged_total{%s} = %v, want %d", flag, got, n)
		}
	}
	// events_total summed over labels equals what is stored, per error type.
	byType := map[string]float64{}
	mfs, err := inst.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "faultline_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "error_type" {
					byType[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	for typ, n := range h.written.ByErrorType {
		if int64(byType[typ]) != n {
			t.Errorf("events_total{error_type=%s} = %v, want %d", typ, byType[typ], n)
		}
	}
	if len(byType) < h.cat.Len() {
		t.Errorf("events_total exports %d error types, want every catalog type (%d)", len(byType), h.cat.Len())
	}
}

// A new ingester of the same group resumes from the committed offsets.
func TestRestartResumesFromCommittedOffsets(t *testing.T) {
	h := newHarness(t, 3)
	h.produce(1, 8000, nil)
	_, first := h.drain("resume")
	h.produce(2, 5000, nil)
	_, second := h.drain("resume")
	if first.Consumed != 8000 || second.Consumed != 5000 {
		t.Fatalf("consumed %d then %d, want 8000 then 5000", first.Consumed, second.Consumed)
	}
	h.assertExactlyOnce()
}

// Rows stored but never committed (a crash between insert and commit) are skipped, not
// stored again: a group with no commits at all re-reads everything and stores nothing new.
func TestStoredButUncommittedRowsAreSkipped(t *testing.T) {
	h := newHarness(t, 3)
	h.produce(3, 6000, nil)
	h.drain("first")
	inst, sum := h.drain("second-with-no-commits")
	if sum.Skipped != 6000 || sum.Stored != 0 || sum.Quarantined != 0 {
		t.Fatalf("second run: %+v, want all 6000 skipped", sum)
	}
	if got := testutil.ToFloat64(inst.m.Skipped.WithLabelValues("already_stored")); got != 6000 {
		t.Fatalf("messages_skipped_total = %v", got)
	}
	h.assertExactlyOnce()
}

// The skip read covers a window of offsets at a time and reads the next one as the partition
// reaches it: with a window of 500, 6000 stored-but-uncommitted messages are all skipped.
func TestStoredOffsetsAreReadInWindows(t *testing.T) {
	h := newHarness(t, 2)
	h.produce(31, 6000, nil)
	h.drain("windows-first")
	inst := h.newIngester(h.config("windows-second"))
	inst.in.sink.window = 500
	set, err := inst.in.sink.storedOffsets(context.Background(), h.topic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if set.len() != 500 || !set.more || set.until != 500 {
		t.Fatalf("first window: %d offsets, more %v, until %d; want 500, true, 500", set.len(), set.more, set.until)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := inst.in.Run(ctx, RunOptions{Drain: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 6000 || sum.Stored+sum.Quarantined != 0 {
		t.Fatalf("second run: %+v, want all 6000 skipped", sum)
	}
	h.assertExactlyOnce()
}

// A batch the server rejects because of one bad row: the row goes to quarantine with the
// server's message, the rest of the batch is stored.
func TestServerRejectedRowIsQuarantined(t *testing.T) {
	h := newHarness(t, 1)
	// A check column the server computes on insert: like a CHECK constraint, it fails the
	// whole block when one row breaks it.
	if err := h.conn().Exec(context.Background(), "ALTER TABLE "+h.ch.Database+
		".events ADD COLUMN poison UInt8 MATERIALIZED throwIf(error_message = 'poison pill')"); err != nil {
		t.Fatal(err)
	}
	h.produce(4, 3000, nil)
	poison := `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified","error_message":"poison pill"}`
	h.produceRaw(poison)
	h.produce(5, 3000, nil)
	h.produceRaw(poison)
	_, sum := h.drain("poison")
	if sum.ServerRejected != 2 {
		t.Fatalf("server rejected %d, want 2 (summary %+v)", sum.ServerRejected, sum)
	}
	db := h.ch.Database
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".quarantine WHERE reason = 'server_rejected' AND payload LIKE '%poison pill%' AND detail LIKE '%throwIf%'"); n != 2 {
		t.Fatalf("quarantined poison rows = %d, want 2", n)
	}
	// Apart from the two poison rows, the ground truth holds exactly.
	h.written.Total += 2
	h.written.Rejected += 2
	h.written.ByReason[ReasonServerRejected] += 2
	h.assertExactlyOnce()
}

// When a second ingester joins, the first flushes and commits what it holds for the
// partitions it gives up before the rebalance completes.
func TestRevokeFlushesBeforeHandover(t *testing.T) {
	h := newHarness(t, 4)
	h.produce(6, 4000, nil)

	cfg := h.config("revoke")
	cfg.Batch.MaxAge = time.Hour // nothing flushes by itself: only the revoke can
	cfg.Batch.MaxRows = 1_000_000
	a := h.newIngester(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := a.in.Run(ctx, RunOptions{}); done <- err }()
	waitFor(t, 30*time.Second, "first ingester reads everything", func() bool {
		a.in.statsMu.Lock()
		defer a.in.statsMu.Unlock()
		return a.in.stats.Consumed == 4000
	})
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + h.ch.Database + ".events"); n != 0 {
		t.Fatalf("%d rows stored before any flush trigger", n)
	}

	// The joining ingester drains; its partitions come from a's revoke.
	_, sum := h.drain("revoke")
	if got := testutil.ToFloat64(a.m.Flushes.WithLabelValues("revoke")); got < 1 {
		t.Fatalf("flushes_total{trigger=revoke} = %v", got)
	}
	if sum.Stored+sum.Quarantined+sum.Skipped > 4000 {
		t.Fatalf("second ingester: %+v", sum)
	}
	cancel()
	if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatal(err)
	}
	h.assertExactlyOnce()
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With ClickHouse and the broker both gone, a shutdown still ends: past its timeout it gives
// up on unstored rows (they are read again) and on leaving the group. Batches pile up behind
// the stuck insert, so the shutdown's flush request waits in a sealed batch that is never
// stored: it must be answered once, not hang the batcher.
func TestShutdownEndsWithClickHouseAndBrokerGone(t *testing.T) {
	b := testenv.Broker(t, "api-errors", 3)
	srv := testenv.StartClickHouseServer(t)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{srv.Addr}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(conn), "shut"); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, broker: b.Addr, topic: "api-errors", ch: &testenv.CH{Addr: srv.Addr, Database: "shut", Conn: conn}, cat: mustCatalog(t), written: loadgen.NewExpected()}

	cfg := h.config("shutdown")
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.Batch.MaxRows = 200
	inst := h.newIngester(cfg)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := inst.in.Run(runCtx, RunOptions{}); done <- err }()
	h.produce(7, 300, nil)
	waitFor(t, 30*time.Second, "the first rows are stored", func() bool {
		return testutil.ToFloat64(inst.m.RowsStored.WithLabelValues("events")) > 0
	})
	srv.Stop()
	h.produce(8, 3000, nil)
	waitFor(t, 30*time.Second, "the ingester reads on with ClickHouse gone", func() bool {
		return testutil.ToFloat64(inst.m.Consumed.WithLabelValues("api-errors")) > 1300
	})
	cancel()
	time.Sleep(500 * time.Millisecond) // the partitions ask for their flush
	b.Cluster.Close()
	start := time.Now()
	select {
	case <-done:
	case <-time.After(cfg.ShutdownTimeout + LeaveGrace + 20*time.Second):
		t.Fatalf("Run still running %s after cancel", time.Since(start).Round(time.Second))
	}
}

// The ledger check can fail: when Kafka reports a committed offset past what is stored (an
// offset reset, another writer), the breach is counted.
func TestLedgerBreachIsDetected(t *testing.T) {
	h := newHarness(t, 2)
	b := h.brokerCluster
	h.produce(9, 1000, nil)
	inst := h.newIngester(h.config("ledger"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := inst.in.Run(ctx, RunOptions{}); done <- err }()
	waitFor(t, 30*time.Second, "everything is stored", func() bool {
		return int64(testutil.ToFloat64(inst.m.RowsStored.WithLabelValues("events"))+
			testutil.ToFloat64(inst.m.RowsStored.WithLabelValues("quarantine"))) == h.written.Total
	})
	if got := testutil.ToFloat64(inst.m.LedgerBreaches.WithLabelValues(h.topic, "0")); got != 0 {
		t.Fatalf("breaches before any fault: %v", got)
	}
	// From now on the broker answers that the group committed far past the end.
	b.ControlKey(kmsg.OffsetFetch.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.KeepControl()
		r := req.(*kmsg.OffsetFetchRequest)
		resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.Version = r.Version
		for _, rt := range r.Topics {
			topic := kmsg.NewOffsetFetchResponseTopic()
			topic.Topic = rt.Topic
			for _, p := range rt.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset = p, 1_000_000
				topic.Partitions = append(topic.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, topic)
		}
		return resp, nil, true
	})
	waitFor(t, 30*time.Second, "the breach is counted", func() bool {
		return testutil.ToFloat64(inst.m.LedgerBreaches.WithLabelValues(h.topic, "0")) > 0
	})
	cancel()
	<-done
}

// A member whose shutdown flush outlasts the session timeout (ClickHouse stopped for twice
// it) stays in the group until it has stored and committed what it read: its partitions go
// to the other member only once it leaves, and nothing is stored twice or lost.
func TestSlowShutdownFlushKeepsMembership(t *testing.T) {
	b := testenv.Broker(t, "api-errors", 4)
	srv := testenv.StartClickHouseServer(t)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{srv.Addr}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := schema.Migrate(context.Background(), schema.Native(conn), "slowflush"); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, broker: b.Addr, topic: "api-errors", ch: &testenv.CH{Addr: srv.Addr, Database: "slowflush", Conn: conn}, cat: mustCatalog(t), written: loadgen.NewExpected()}
	start := func() (*instance, func() error) {
		cfg := h.config("slow-flush")
		cfg.Batch.MaxAge = time.Hour // nothing is stored before the shutdown's flush
		cfg.Batch.MaxRows = 1_000_000
		inst := h.newIngester(cfg)
		ctx, cancel := context.WithCancel(context.Background())
		return inst, runInBackground(ctx, cancel, inst)
	}
	a, stopA := start()
	defer func() { _ = stopA() }()
	waitFor(t, 30*time.Second, "a owns every partition", func() bool { return testutil.ToFloat64(a.m.Assigned) == 4 })
	other, stopOther := start()
	defer func() { _ = stopOther() }()
	waitFor(t, 30*time.Second, "the partitions shared", func() bool {
		return testutil.ToFloat64(a.m.Assigned) == 2 && testutil.ToFloat64(other.m.Assigned) == 2
	})
	h.produce(9, 3000, nil)
	waitFor(t, 30*time.Second, "everything read", func() bool {
		return testutil.ToFloat64(a.m.Consumed.WithLabelValues(h.topic))+testutil.ToFloat64(other.m.Consumed.WithLabelValues(h.topic)) == 3000
	})
	rebalances := testutil.ToFloat64(other.m.Rebalances)

	srv.Pause()
	stopped := make(chan error, 1)
	go func() { stopped <- stopA() }()
	session := h.config("").Kafka.SessionTimeout
	time.Sleep(2*session + time.Second)
	if got := testutil.ToFloat64(other.m.Rebalances); got != rebalances {
		srv.Continue()
		t.Fatalf("the group rebalanced (%v generations, was %v) while a was still flushing: a was thrown out", got, rebalances)
	}
	srv.Continue()
	if err := <-stopped; err != nil {
		t.Fatalf("a: %v", err)
	}
	if n := testutil.ToFloat64(a.m.Commits.WithLabelValues("error")); n != 0 {
		t.Errorf("a's shutdown commits failed %v times", n)
	}
	if n := testutil.ToFloat64(a.m.Commits.WithLabelValues("ok")); n == 0 {
		t.Errorf("a committed nothing on shutdown")
	}
	waitFor(t, 30*time.Second, "the other member owns every partition", func() bool { return testutil.ToFloat64(other.m.Assigned) == 4 })
	if err := stopOther(); err != nil {
		t.Fatalf("other: %v", err)
	}
	h.drain("slow-flush") // what the other member had not read yet when it stopped
	h.assertExactlyOnce()
}
