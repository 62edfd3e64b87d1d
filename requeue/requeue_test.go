package requeue_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/requeue"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestRequeueMovesExactlyOnce on ClickHouse 18.16: two messages quarantined as too_large
// (the limit has since been raised) and one that is still not JSON. One of the two is already
// in events, as after a requeue that stopped between its insert and its delete.
func TestRequeueMovesExactlyOnce(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	checker := event.NewChecker(cat, event.Options{MaxMessageBytes: 64 << 10})
	sink, err := pipeline.NewSink(ctx, ch.Conn, pipeline.WriterConfig{Database: ch.Database, InsertTimeout: 30 * time.Second, Retry: pipeline.RetryConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, FatalBackoff: 100 * time.Millisecond}}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	received := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	big := func(i int) string {
		return fmt.Sprintf(`{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-%012d","error_type":"billing_not_verified","error_message":"%s"}`, i, strings.Repeat("x", 3000))
	}
	q, err := ch.Conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".quarantine (received_at, reason, detail, payload, payload_bytes, kafka_topic, kafka_partition, kafka_offset, kafka_time, kafka_key, insert_id)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		reason, payload string
		offset          uint64
	}{{"too_large", big(10), 10}, {"not_json_object", "not json", 11}, {"too_large", big(12), 12}} {
		if err := q.Append(received, r.reason, "", r.payload, uint32(len(r.payload)), "api-errors", uint32(0), r.offset, received, "", uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Send(); err != nil {
		t.Fatal(err)
	}
	if err := ch.Conn.Exec(ctx, "INSERT INTO "+ch.Database+".events (event_time, error_type, status_code, kafka_topic, kafka_partition, kafka_offset) SELECT now(), 'billing_not_verified', 400, 'api-errors', 0, 12"); err != nil {
		t.Fatal(err)
	}
	count := func(sql string) uint64 {
		t.Helper()
		var n uint64
		if err := ch.Conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	opts := requeue.Options{Since: received.Add(-time.Minute)}

	dry := opts
	dry.DryRun = true
	res, err := requeue.Run(ctx, ch.Conn, ch.Database, checker, sink, dry)
	if err != nil {
		t.Fatal(err)
	}
	if res.Examined != 3 || res.Accepted["too_large"] != 2 || res.StillRejected["not_json_object"] != 1 || res.AlreadyStored != 1 || res.Moved != 0 {
		t.Fatalf("dry run %+v", res)
	}
	if n := count("SELECT count() FROM " + ch.Database + ".events"); n != 1 {
		t.Fatalf("dry run changed events: %d rows", n)
	}

	res, err = requeue.Run(ctx, ch.Conn, ch.Database, checker, sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != 1 || res.AlreadyStored != 1 || res.Refused != 0 {
		t.Fatalf("run %+v, want 1 moved and 1 already stored", res)
	}
	for _, off := range []int{10, 12} {
		if n := count(fmt.Sprintf("SELECT count() FROM %s.events WHERE kafka_topic = 'api-errors' AND kafka_partition = 0 AND kafka_offset = %d", ch.Database, off)); n != 1 {
			t.Errorf("offset %d stored %d times in events, want once", off, n)
		}
	}
	// 18.16 deletes with a mutation: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for count("SELECT count() FROM "+ch.Database+".quarantine") != 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := count("SELECT count() FROM " + ch.Database + ".quarantine WHERE reason = 'not_json_object' AND kafka_offset = 11"); n != 1 {
		t.Errorf("the still rejected message: %d quarantine rows, want 1", n)
	}
	if n := count("SELECT count() FROM " + ch.Database + ".quarantine"); n != 1 {
		t.Errorf("%d quarantine rows left, want only the still rejected one", n)
	}

	res, err = requeue.Run(ctx, ch.Conn, ch.Database, checker, sink, opts)
	if err != nil || res.Examined != 1 || res.Moved != 0 || len(res.Accepted) != 0 {
		t.Fatalf("second run %+v, %v: want only the still rejected message examined", res, err)
	}
	if n := count("SELECT count() FROM " + ch.Database + ".events"); n != 2 {
		t.Errorf("%d events after a second run, want 2", n)
	}
}
