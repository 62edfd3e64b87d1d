package requeue_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/kafkaconn"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/requeue"
	"github.com/faultline/faultline/schema"
)

// TestRequeuedRowIsSkippedOnReread on kfake and ClickHouse 18.16: messages quarantined as
// too_large are requeued once the limit is raised; the events rows keep the messages'
// fingerprints, and a group that reads the topic again skips every one as already stored.
func TestRequeuedRowIsSkippedOnReread(t *testing.T) {
	ctx := context.Background()
	const topic, n = "api-errors", 5
	b := testenv.Broker(t, topic, 1)
	ch := testenv.ClickHouse(t)
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: topic, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll,
		Transport: testenv.WriterTransport(t)}
	defer w.Close()
	var msgs []kafka.Message
	for i := range n {
		v := fmt.Sprintf(`{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-%012d","error_type":"billing_not_verified","error_message":"%s"}`, i, strings.Repeat("x", 3000))
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	drain := func(group string, maxBytes int) (pipeline.Summary, *prometheus.Registry) {
		t.Helper()
		// The defaults of config.yaml, with test-speed timeouts.
		cfg := pipeline.Config{
			Kafka: pipeline.KafkaConfig{Brokers: []string{b.Addr}, Topics: []string{topic}, Group: group, StartOffset: "earliest",
				SessionTimeout: 3 * time.Second, HeartbeatInterval: 300 * time.Millisecond, RebalanceTimeout: 6 * time.Second,
				MinFetchBytes: 1, MaxFetchBytes: 10 << 20, MaxWait: 200 * time.Millisecond},
			Batch: pipeline.BatchConfig{MaxRows: 50000, MaxBytes: 32 << 20, MaxAge: 200 * time.Millisecond, MaxInflightBytes: 64 << 20, Inserts: 1},
			Writer: pipeline.WriterConfig{Database: ch.Database, InsertTimeout: 10 * time.Second,
				Retry: pipeline.RetryConfig{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, FatalBackoff: 30 * time.Second}},
			ShutdownTimeout: 30 * time.Second,
		}
		reg := prometheus.NewRegistry()
		kc, err := kafkaconn.New(config.Kafka{Brokers: []string{b.Addr}})
		if err != nil {
			t.Fatal(err)
		}
		in, err := pipeline.New(cfg, event.NewChecker(cat, event.Options{MaxMessageBytes: maxBytes}), ch.Conn, kc, reg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		sum, err := in.Run(rctx, pipeline.RunOptions{Drain: true})
		if err != nil {
			t.Fatalf("drain %s: %v", group, err)
		}
		return sum, reg
	}

	if sum, _ := drain("small-limit", 1024); sum.Quarantined != n {
		t.Fatalf("first read %+v, want %d quarantined", sum, n)
	}
	fingerprints := func(table string) map[uint64]uint64 {
		t.Helper()
		rows, err := ch.Conn.Query(ctx, "SELECT kafka_offset, fingerprint FROM "+ch.Database+"."+table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		fps := map[uint64]uint64{}
		for rows.Next() {
			var off, fp uint64
			if err := rows.Scan(&off, &fp); err != nil {
				t.Fatal(err)
			}
			if fp == 0 {
				t.Fatalf("%s: offset %d has fingerprint 0", table, off)
			}
			fps[off] = fp
		}
		return fps
	}
	quarantined := fingerprints("quarantine")
	// A requeue takes only rows received before its start second (see Options.Until).
	time.Sleep(1100 * time.Millisecond)
	checker := event.NewChecker(cat, event.Options{MaxMessageBytes: 64 << 10})
	sink, err := pipeline.NewSink(ctx, ch.Conn, pipeline.WriterConfig{Database: ch.Database, InsertTimeout: 30 * time.Second, Retry: pipeline.RetryConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, FatalBackoff: 100 * time.Millisecond}}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var calls [][2]int64
	res, err := requeue.Run(ctx, ch.Conn, ch.Database, checker, sink, requeue.Options{Reasons: []string{"too_large"},
		Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) }})
	if err != nil || res.Moved != n {
		t.Fatalf("requeue %+v, %v: want %d moved", res, err, n)
	}
	if len(calls) < 2 || calls[0] != [2]int64{0, n} || calls[len(calls)-1] != [2]int64{n, n} {
		t.Fatalf("progress calls %v, want 0/%d first and %d/%d last", calls, n, n, n)
	}
	// Each events row carries the fingerprint its quarantine row had, never 0.
	if got := fingerprints("events"); len(got) != n || !maps.Equal(got, quarantined) {
		t.Fatalf("events fingerprints %v, want the quarantined ones %v", got, quarantined)
	}

	sum, rm := drain("reread", 64<<10)
	if sum.Skipped != n || sum.Stored != 0 || sum.Quarantined != 0 {
		t.Fatalf("re-read %+v, want all %d skipped", sum, n)
	}
	if err := testutil.GatherAndCompare(rm, strings.NewReader(skippedMetric(n)), "faultline_messages_skipped_total"); err != nil {
		t.Fatal(err)
	}
	if got := testenv.QueryInt(t, ch.Conn, "SELECT count() FROM "+ch.Database+".events"); got != n {
		t.Fatalf("%d events, want %d", got, n)
	}
}

// skippedMetric is faultline_messages_skipped_total as the exposition shows it.
func skippedMetric(alreadyStored int) string {
	return fmt.Sprintf(`
# HELP faultline_messages_skipped_total Messages read again after a restart or rebalance and not stored twice, by reason.
# TYPE faultline_messages_skipped_total counter
faultline_messages_skipped_total{reason="already_stored"} %d
faultline_messages_skipped_total{reason="transaction_marker"} 0
`, alreadyStored)
}
