package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/loadgen"
)

// startBroker starts an in-process kfake broker with topic seeded to 6
// partitions.
func startBroker(t testing.TB, topic string) string {
	t.Helper()
	return testenv.Broker(t, topic, 6).Addr
}

// readAll reads every message of topic's partitions, until a partition's end
// offset, and tallies them through the independent contract reading.
func readAll(t *testing.T, cat *catalog.Catalog, addr, topic string, partitions int) (loadgen.Expected, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := loadgen.NewExpected()
	var n int64
	for p := range partitions {
		conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
		if err != nil {
			t.Fatalf("dial leader of %s/%d: %v", topic, p, err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatalf("last offset of %s/%d: %v", topic, p, err)
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p, MaxWait: time.Second})
		for off := int64(0); off < last; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d at %d of %d: %v", topic, p, off, last, err)
			}
			if m.Offset != off {
				t.Fatalf("%s/%d: offset %d, want %d", topic, p, m.Offset, off)
			}
			v := classify(cat, m.Value, m.Time)
			msg := loadgen.Message{Value: m.Value, ErrorType: v.errorType, Environment: v.env}
			switch {
			case v.reason != "":
				msg.Kind, msg.Reason = loadgen.KindRejected, v.reason
			case len(v.flags) == 1 && v.flags[0] == loadgen.FlagUnknownErrorType:
				msg.Kind, msg.Flag = loadgen.KindUnknown, v.flags[0]
			case len(v.flags) == 1:
				msg.Kind, msg.Flag = loadgen.KindFlagged, v.flags[0]
			case len(v.flags) > 1:
				t.Fatalf("%s/%d@%d carries several flags %v: %.300q", topic, p, off, v.flags, m.Value)
			}
			got.Add(&msg)
			n++
		}
		r.Close()
	}
	return got, n
}

func TestProduceToKfakeDeliversExactly(t *testing.T) {
	const topic, count = "t", 20000
	cat := loadCatalog(t)
	addr := startBroker(t, topic)
	w, err := loadgen.NewWriter(loadgen.WriterConfig{Brokers: []string{addr}, Topic: topic, Compression: "lz4", Transport: testenv.WriterTransport(t)})
	if err != nil {
		t.Fatal(err)
	}
	opts := loadgen.DefaultOptions()
	opts.MalformedShare = 0.05 // enough of every variant in 20k
	gen := loadgen.New(cat, opts)
	st, err := loadgen.Produce(context.Background(), w, gen, 0, count, loadgen.ProduceOptions{})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	if st.Sent != count || st.Errors != 0 {
		t.Fatalf("sent %d with %d errors, want %d and 0", st.Sent, st.Errors, count)
	}
	t.Logf("produced %d messages in %v (%.0f/s)", st.Sent, st.Elapsed, st.Rate())

	got, n := readAll(t, cat, addr, topic, 6)
	if n != count {
		t.Fatalf("read back %d messages, want %d", n, count)
	}
	want := gen.Expected()
	for _, c := range []struct {
		what      string
		got, want map[string]int64
	}{
		{"accepted by error type", got.ByErrorType, want.ByErrorType},
		{"rejected by reason", got.ByReason, want.ByReason},
		{"flags", got.ByFlag, want.ByFlag},
		{"by kind", got.ByKind, want.ByKind},
		{"accepted by environment", got.ByEnvironment, want.ByEnvironment},
		{"delivered by kind", st.Delivered.ByKind, want.ByKind},
	} {
		a, _ := json.Marshal(c.got)
		b, _ := json.Marshal(c.want)
		if string(a) != string(b) {
			t.Errorf("%s read back differs from the ground truth:\n got %s\nwant %s", c.what, a, b)
		}
	}
	if got.Bytes != want.Bytes || st.Delivered.Total != count {
		t.Errorf("read %d bytes (delivered total %d), want %d bytes and %d", got.Bytes, st.Delivered.Total, want.Bytes, count)
	}
}

func TestProduceArguments(t *testing.T) {
	cat := loadCatalog(t)
	gen := loadgen.New(cat, loadgen.DefaultOptions())
	w := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:1"), Topic: "t"}
	for _, tc := range []struct {
		rate  float64
		count int64
	}{{0, 0}, {-1, 10}, {10, -1}} {
		if _, err := loadgen.Produce(context.Background(), w, gen, tc.rate, tc.count, loadgen.ProduceOptions{}); err == nil {
			t.Errorf("Produce(rate %v, count %d) succeeded, want an error", tc.rate, tc.count)
		}
	}
	for _, cfg := range []loadgen.WriterConfig{
		{Topic: "t"},
		{Brokers: []string{"x:1"}},
		{Brokers: []string{"x:1"}, Topic: "t", Compression: "brotli"},
		{Brokers: []string{"x:1"}, Topic: "t", Balancer: "sticky"},
	} {
		if _, err := loadgen.NewWriter(cfg); err == nil {
			t.Errorf("NewWriter(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestEnsureTopicCreatesWithPartitions(t *testing.T) {
	addr := startBroker(t, "seeded")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 2 { // the second call finds it existing
		if err := loadgen.EnsureTopic(ctx, nil, addr, "made", 3); err != nil {
			t.Fatalf("EnsureTopic: %v", err)
		}
	}
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions("made")
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Errorf("topic made has %d partitions, want 3", len(parts))
	}
}

// BenchmarkProduceKfake measures Produce into an in-process kfake broker
// (which shares the CPU), lz4, hash balancer; reported as events/s.
func BenchmarkProduceKfake(b *testing.B) {
	cat := loadCatalog(b)
	for _, comp := range []string{"none", "lz4"} {
		b.Run(comp, func(b *testing.B) {
			addr := startBroker(b, "bench")
			w, err := loadgen.NewWriter(loadgen.WriterConfig{Brokers: []string{addr}, Topic: "bench", Compression: comp, Transport: testenv.WriterTransport(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			gen := loadgen.New(cat, loadgen.DefaultOptions())
			b.ResetTimer()
			st, err := loadgen.Produce(context.Background(), w, gen, 0, int64(b.N), loadgen.ProduceOptions{})
			if err != nil || st.Errors > 0 {
				b.Fatal(errors.Join(err, fmt.Errorf("%d errors", st.Errors)))
			}
			b.ReportMetric(st.Rate(), "events/s")
		})
	}
}
