package replay_test

import (
	"context"
	"fmt"
	"log/slog"
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
	"github.com/faultline/faultline/replay"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestReplay on kfake and ClickHouse 18.16: a replay of a stored range under its own group
// stores nothing new and counts every message already stored; a replay into another database
// fills it; a range by record time starts at the first record at or after the time.
func TestReplay(t *testing.T) {
	ctx := context.Background()
	const topic, n = "api-errors", 100
	b := testenv.Broker(t, topic, 2)
	ch := testenv.ClickHouse(t)
	other := testenv.ClickHouse(t)
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: topic, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{},
		Transport: testenv.WriterTransport(t)}
	defer w.Close()
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Time: base.Add(time.Duration(i) * time.Second),
			Value: []byte(fmt.Sprintf(`{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-%012d","error_type":"billing_not_verified","error_message":"no"}`, i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	cfgFor := func(group, db string) pipeline.Config { return testConfig(b.Addr, topic, group, db) }
	kc, err := kafkaconn.New(config.Kafka{Brokers: []string{b.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(cfg pipeline.Config, stopAt map[string]map[int]int64) (pipeline.Summary, *prometheus.Registry) {
		t.Helper()
		c := ch.Conn
		if cfg.Writer.Database == other.Database {
			c = other.Conn
		}
		if _, err := schema.Migrate(ctx, schema.Native(c), cfg.Writer.Database); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		in, err := pipeline.New(cfg, event.NewChecker(cat, event.Options{MaxClockSkew: 1000 * time.Hour}), c, kc, reg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		sum, err := in.Run(rctx, pipeline.RunOptions{Drain: true, StopAt: stopAt})
		if err != nil {
			t.Fatalf("run %s: %v", cfg.Kafka.Group, err)
		}
		return sum, reg
	}
	client := kc.Client(10 * time.Second)

	if sum, _ := run(cfgFor("main", ch.Database), nil); sum.Stored != n {
		t.Fatalf("first read %+v, want %d stored", sum, n)
	}

	// The whole topic again, into the same tables: nothing new.
	all, err := replay.MakePlan(ctx, client, replay.Range{Topics: []string{topic}, From: replay.Bound{Offset: -1}, To: replay.Bound{Offset: -1}})
	if err != nil || all.Messages() != n {
		t.Fatalf("plan %+v, %v: want %d messages", all, err, n)
	}
	if err := replay.Commit(ctx, client, "main-replay-1", all); err != nil {
		t.Fatal(err)
	}
	sum, reg := run(cfgFor("main-replay-1", ch.Database), all.To)
	if sum.Stored != 0 || sum.Skipped != n {
		t.Fatalf("replay into the same tables %+v, want 0 stored and %d skipped", sum, n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(skippedMetric(n)), "faultline_messages_skipped_total"); err != nil {
		t.Fatal(err)
	}
	if got := testenv.QueryInt(t, ch.Conn, "SELECT count() FROM "+ch.Database+".events"); got != n {
		t.Fatalf("%d events after the replay, want %d", got, n)
	}

	// Partition 0 from offset 10, into another database.
	part, err := replay.MakePlan(ctx, client, replay.Range{Topics: []string{topic}, Partitions: []int{0}, From: replay.Bound{Offset: 10}, To: replay.Bound{Offset: -1}})
	if err != nil {
		t.Fatal(err)
	}
	want := all.To[topic][0] - 10
	if part.From[topic][1] != part.To[topic][1] || part.Messages() != want {
		t.Fatalf("plan %+v, want partition 0 only, %d messages", part, want)
	}
	if err := replay.Commit(ctx, client, "main-replay-2", part); err != nil {
		t.Fatal(err)
	}
	if sum, _ := run(cfgFor("main-replay-2", other.Database), part.To); sum.Stored != want {
		t.Fatalf("replay into %s %+v, want %d stored", other.Database, sum, want)
	}
	if got := testenv.QueryInt(t, other.Conn, "SELECT count() FROM "+other.Database+".events WHERE kafka_partition = 0 AND kafka_offset >= 10"); got != want {
		t.Fatalf("%d events in %s, want %d", got, other.Database, want)
	}

	if _, err := replay.MakePlan(ctx, client, replay.Range{Topics: []string{topic}, Partitions: []int{7}, From: replay.Bound{Offset: -1}, To: replay.Bound{Offset: -1}}); err == nil || !strings.Contains(err.Error(), "no partition 7") {
		t.Fatalf("plan of partition 7 of 2: %v, want an error naming it", err)
	}

	// By record time: from the time of the 50th message on.
	byTime, err := replay.MakePlan(ctx, client, replay.Range{Topics: []string{topic}, From: replay.Bound{Offset: -1, Time: base.Add(50 * time.Second)}, To: replay.Bound{Offset: -1}})
	if err != nil || byTime.Messages() != n-50 {
		t.Fatalf("plan by time %+v, %v: want %d messages", byTime, err, n-50)
	}
	window, err := replay.MakePlan(ctx, client, replay.Range{Topics: []string{topic}, From: replay.Bound{Offset: -1, Time: base.Add(50 * time.Second)}, To: replay.Bound{Offset: -1, Time: base.Add(80 * time.Second)}})
	if err != nil || window.Messages() != 30 {
		t.Fatalf("plan of [50s, 80s) %+v, %v: want 30 messages", window, err)
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

// testConfig is the defaults of config.yaml, with test-speed timeouts, for group reading
// topic at broker into database db.
func testConfig(broker, topic, group, db string) pipeline.Config {
	return pipeline.Config{
		Kafka: pipeline.KafkaConfig{Brokers: []string{broker}, Topics: []string{topic}, Group: group, StartOffset: "earliest",
			SessionTimeout: 3 * time.Second, HeartbeatInterval: 300 * time.Millisecond, RebalanceTimeout: 6 * time.Second,
			MinFetchBytes: 1, MaxFetchBytes: 10 << 20, MaxWait: 200 * time.Millisecond},
		Batch: pipeline.BatchConfig{MaxRows: 50000, MaxBytes: 32 << 20, MaxAge: 200 * time.Millisecond, MaxInflightBytes: 64 << 20, Inserts: 1},
		Writer: pipeline.WriterConfig{Database: db, InsertTimeout: 10 * time.Second,
			Retry: pipeline.RetryConfig{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, FatalBackoff: 30 * time.Second}},
		ShutdownTimeout: 30 * time.Second,
	}
}
