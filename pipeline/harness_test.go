package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/kafkaconn"
	"github.com/faultline/faultline/loadgen"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness is a real broker and a real ClickHouse database with the schema applied.
type harness struct {
	t             *testing.T
	broker        string
	brokerCluster *kfake.Cluster
	topic         string
	ch            *testenv.CH
	cat           *catalog.Catalog
	written       loadgen.Expected
	cluster       *ClusterConfig // set for a ClickHouse cluster (cluster_test.go)
	// clusterDB is the cluster's nodes: assertExactlyOnce syncs their replicas first.
	clusterDB *testenv.ClusterDB
}

func newHarness(t *testing.T, partitions int) *harness {
	t.Helper()
	topic := "api-errors"
	b := testenv.Broker(t, topic, partitions)
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, broker: b.Addr, brokerCluster: b.Cluster, topic: topic, ch: ch, cat: mustCatalog(t), written: loadgen.NewExpected()}
}

func mustCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// produce writes n generated messages and adds them to the ground truth.
func (h *harness) produce(seed uint64, n int64, tweak func(*loadgen.Options)) {
	h.t.Helper()
	opts := loadgen.DefaultOptions()
	opts.Seed = seed
	opts.MalformedShare = 0.05
	opts.UnknownShare = 0.02
	if tweak != nil {
		tweak(&opts)
	}
	gen := loadgen.New(h.cat, opts)
	w, err := loadgen.NewWriter(loadgen.WriterConfig{Brokers: []string{h.broker}, Topic: h.topic, Balancer: "round-robin",
		Transport: testenv.WriterTransport(h.t)})
	if err != nil {
		h.t.Fatal(err)
	}
	defer w.Close()
	st, err := loadgen.Produce(context.Background(), w, gen, 0, n, loadgen.ProduceOptions{})
	if err != nil || st.Errors > 0 {
		h.t.Fatalf("produce: %v (%d errors)", err, st.Errors)
	}
	h.written.Merge(st.Delivered)
}

// produceRaw writes the given values as they are.
func (h *harness) produceRaw(values ...string) {
	h.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(h.broker), Topic: h.topic, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne,
		Transport: testenv.WriterTransport(h.t)}
	defer w.Close()
	var msgs []kafka.Message
	for _, v := range values {
		msgs = append(msgs, kafka.Message{Value: []byte(v)})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		h.t.Fatal(err)
	}
}

// config returns a config for an ingester of group against the harness: the defaults of
// config.yaml, with test-speed timeouts and smaller batches.
func (h *harness) config(group string) *Config {
	return &Config{
		Kafka: KafkaConfig{
			Brokers: []string{h.broker}, Topics: []string{h.topic}, Group: group, StartOffset: "earliest",
			SessionTimeout: 3 * time.Second, HeartbeatInterval: 300 * time.Millisecond, RebalanceTimeout: 6 * time.Second,
			MinFetchBytes: 1, MaxFetchBytes: 10 << 20, MaxWait: 200 * time.Millisecond,
		},
		Batch: BatchConfig{MaxRows: 5000, MaxBytes: 32 << 20, MaxAge: 200 * time.Millisecond, MaxInflightBytes: 64 << 20, Inserts: 1},
		Writer: WriterConfig{Database: h.ch.Database, InsertTimeout: 2 * time.Second,
			Retry: RetryConfig{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, FatalBackoff: 500 * time.Millisecond}},
		ShutdownTimeout: 20 * time.Second,
		Metrics:         MetricsConfig{CatalogTypes: metrics.CatalogTypes(h.cat), MaxUnknownErrorTypes: 50},
	}
}

// instance is one in-process ingester with its own metrics registry.
type instance struct {
	in  *Ingester
	reg *prometheus.Registry
	m   testMetrics
}

// testMetrics are an ingester's metrics, every stage's: tests name a metric without
// saying which stage has it.
type testMetrics struct {
	*sourceMetrics
	*batcherMetrics
	*commitMetrics
	*ledgerMetrics
	*lagMetrics
	*writerMetrics
}

func (h *harness) newIngester(cfg *Config) *instance {
	h.t.Helper()
	reg := prometheus.NewRegistry()
	checker := event.NewChecker(h.cat, event.Options{}) // the defaults
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	kc, err := kafkaconn.New(config.Kafka{Brokers: cfg.Kafka.Brokers})
	if err != nil {
		h.t.Fatal(err)
	}
	if h.cluster != nil && cfg.Cluster == nil {
		cfg.Cluster = h.cluster
	}
	in, err := New(*cfg, checker, h.ch.Conn, kc, reg, log)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = in.Close() })
	return &instance{in: in, reg: reg, m: testMetrics{in.sourceM, in.batcherM, in.commitM, in.ledger.m, in.lag.m, in.sink.m}}
}

// drain runs an ingester of group until it has caught up.
func (h *harness) drain(group string) (*instance, Summary) {
	h.t.Helper()
	inst := h.newIngester(h.config(group))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := inst.in.Run(ctx, RunOptions{Drain: true})
	if err != nil {
		h.t.Fatalf("drain: %v", err)
	}
	return inst, sum
}

func (h *harness) conn() driver.Conn { return h.ch.Conn }

func (h *harness) queryInt(q string, args ...any) int64 {
	h.t.Helper()
	return testenv.QueryInt(h.t, h.conn(), q, args...)
}

func (h *harness) queryCounts(q string) map[string]int64 {
	h.t.Helper()
	return testenv.QueryCounts(h.t, h.conn(), q)
}

// assertExactlyOnce checks the promise: every message written is one row in events or
// quarantine, none twice, and the stored contents match the ground truth.
func (h *harness) assertExactlyOnce() {
	h.t.Helper()
	db := h.ch.Database
	if c := h.clusterDB; c != nil {
		if parts := c.DropUncommittedParts(h.t); len(parts) > 0 {
			h.t.Logf("parts of inserts whose commit had an unknown outcome, which 18.16 drops some 5 minutes later, dropped now by restarting their nodes: %v", parts)
		}
		// Reads through the Distributed tables pick a replica of each shard at random, and
		// replication is asynchronous: two reads could otherwise see different rows.
		c.SyncReplicas(h.t, db+".events_local", db+".quarantine_local", db+".stored_offsets_local", db+".events_per_minute_local")
	}
	total := h.queryInt("SELECT toUInt64(count()) FROM (SELECT kafka_partition, kafka_offset FROM " + db + ".events UNION ALL SELECT kafka_partition, kafka_offset FROM " + db + ".quarantine)")
	distinct := h.queryInt("SELECT toUInt64(uniqExact(kafka_partition, kafka_offset)) FROM (SELECT kafka_partition, kafka_offset FROM " + db + ".events UNION ALL SELECT kafka_partition, kafka_offset FROM " + db + ".quarantine)")
	if total != h.written.Total || distinct != h.written.Total {
		h.t.Fatalf("rows %d, distinct offsets %d, messages written %d", total, distinct, h.written.Total)
	}
	events := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events")
	quarantined := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".quarantine")
	if events != h.written.Accepted || quarantined != h.written.Rejected {
		h.t.Fatalf("events %d quarantine %d, want %d and %d", events, quarantined, h.written.Accepted, h.written.Rejected)
	}
	testenv.SameCounts(h.t, "events by error_type", h.queryCounts("SELECT error_type, toUInt64(count()) FROM "+db+".events GROUP BY error_type"), h.written.ByErrorType)
	testenv.SameCounts(h.t, "quarantine by reason", h.queryCounts("SELECT reason, toUInt64(count()) FROM "+db+".quarantine GROUP BY reason"), h.written.ByReason)
	testenv.SameCounts(h.t, "events by flag", h.queryCounts("SELECT flag, toUInt64(count()) FROM "+db+".events ARRAY JOIN flags AS flag GROUP BY flag"), h.written.ByFlag)
	rolled := h.queryInt("SELECT toUInt64(sum(events)) FROM " + db + ".events_per_minute")
	if rolled != events {
		h.t.Fatalf("per-minute rollup holds %d events, events table %d", rolled, events)
	}
}
