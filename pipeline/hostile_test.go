package pipeline

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// produceTimed writes values with exactly the given record timestamps (kafka-go's Writer
// replaces a zero time with now, so this uses franz-go's client, as other producers would).
func (h *harness) produceTimed(times []time.Time, values []string) {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.broker), kgo.DefaultProduceTopic(h.topic))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i, v := range values {
		recs = append(recs, &kgo.Record{Value: []byte(v), Timestamp: times[i]})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

// A record time in microseconds and a record time of 0 with an envelope in year 2200 used to
// make clickhouse-go refuse every batch they were in, forever. Now they are flagged and
// stored with a usable time, and the messages behind them are stored too.
func TestUnstorableTimesDoNotStopThePipeline(t *testing.T) {
	h := newHarness(t, 1)
	body := `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified"`
	now := time.Now()
	var times []time.Time
	var values []string
	times = append(times, time.UnixMilli(now.UnixMicro())) // microseconds written as milliseconds
	values = append(values, body+`,"error_message":"micro"}`)
	times = append(times, time.UnixMilli(0))
	values = append(values, body+`,"error_message":"epoch","timestamp":"2200-01-01T00:00:00Z"}`)
	for i := 0; i < 205; i++ {
		times = append(times, now)
		values = append(values, body+`,"error_message":"behind `+strconv.Itoa(i)+`"}`)
	}
	h.produceTimed(times, values)
	_, sum := h.drain("hostile-times")
	if sum.Stored != 207 || sum.Quarantined != 0 {
		t.Fatalf("summary %+v, want 207 stored", sum)
	}
	db := h.ch.Database
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events WHERE has(flags, 'bad_timestamp') AND has(attr_keys, 'kafka_timestamp') AND error_message IN ('micro', 'epoch') AND abs(toInt64(event_time) - toInt64(now())) < 600"); n != 2 {
		t.Fatalf("flagged rows with a usable time = %d, want 2", n)
	}
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events WHERE error_message = 'epoch' AND has(attr_keys, 'timestamp') AND kafka_time = toDateTime(0)"); n != 1 {
		t.Fatalf("envelope time kept as attribute and kafka_time 1970: %d rows, want 1", n)
	}
	// The record time as kafka-go delivered it (clients disagree on how they carry such a
	// timestamp in a batch, so only its being past the storable range is asserted).
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events WHERE error_message = 'micro' AND toInt64OrZero(attr_values[indexOf(attr_keys, 'kafka_timestamp')]) > 4291747199000"); n != 1 {
		t.Fatalf("original record time kept: %d rows, want 1 (%v)", n, testenv.QueryCounts(t, h.conn(), "SELECT arrayStringConcat(attr_values, ','), toUInt64(1) FROM "+db+".events WHERE error_message = 'micro'"))
	}
}

// fence waits for insert attempts begun before the assignment to end on the server, and
// does not wait for ones begun after it.
func TestFenceWaitsForEarlierInserts(t *testing.T) {
	ch := testenv.ClickHouse(t)
	s, err := NewSink(context.Background(), ch.Conn, WriterConfig{Database: ch.Database, InsertTimeout: 10 * time.Second, Retry: RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, FatalBackoff: time.Millisecond}},
		prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	running := func(id uint64) chan error {
		done := make(chan error, 1)
		go func() {
			ctx := clickhouse.Context(context.Background(), clickhouse.WithQueryID(insertQueryID(id)))
			done <- ch.Conn.Exec(ctx, "SELECT sleep(2)")
		}()
		// Wait until the server lists it.
		waitFor(t, 10*time.Second, "the query to run", func() bool {
			return testenv.QueryInt(t, ch.Conn, "SELECT toUInt64(count()) FROM system.processes WHERE query_id = ?", insertQueryID(id)) == 1
		})
		return done
	}
	early := running(rand.Uint64())
	time.Sleep(700 * time.Millisecond)
	assigned := time.Now()
	start := time.Now()
	if err := s.fence(context.Background(), assigned); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-early:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("fence returned after %s while an earlier insert still ran", time.Since(start))
	}

	assigned = time.Now()
	time.Sleep(700 * time.Millisecond)
	late := running(rand.Uint64())
	if err := s.fence(context.Background(), assigned); err != nil {
		t.Fatal(err)
	}
	select {
	case <-late:
		t.Fatal("fence waited for an insert begun after the assignment")
	default:
	}
	<-late
}

// An insert into a hung server (SIGSTOP) ends with an error within its deadline instead of
// stalling; the error is retryable, and the read-back waits until the server is back.
func TestInsertIntoHungServerHasADeadline(t *testing.T) {
	srv := testenv.StartClickHouseServer(t)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{srv.Addr}, DialTimeout: time.Second, ReadTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS hung"); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.Migrate(ctx, schema.Native(conn), "hung"); err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(ctx, conn, WriterConfig{Database: "hung", InsertTimeout: time.Second, Retry: RetryConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, FatalBackoff: 50 * time.Millisecond}},
		prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	row, checkTime := newRow("t", nil, kafka.Message{Offset: 1, Time: time.Now(), Value: []byte(`{"status_code":400,"error_type":"billing_not_verified"}`)}, time.Now())
	checkRow(event.NewChecker(mustCatalog(t), event.Options{}), row, checkTime, time.Now())
	srv.Pause()
	paused := true
	defer func() {
		if paused {
			srv.Continue()
		}
	}()
	done := make(chan error, 1)
	at := time.Now().UTC().Truncate(time.Second)
	var ev eventBuf
	ev.add(row, at)
	go func() { done <- s.insert(ctx, tableEvents, &ev, allRows(1), 7, at) }()
	select {
	case err := <-done:
		if err == nil || classify(err) != classRetryable {
			t.Fatalf("insert into a hung server: %v (class %s), want a retryable error", err, classify(err))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("insert into a hung server did not end within 30 s with a 1 s deadline")
	}
	srv.Continue()
	paused = false
	// Nothing was sent (the server never answered the query), and the read-back says so.
	w := &tableWrite{sink: s, at: time.Now().UTC().Truncate(time.Second), res: &Result{}}
	landed, err := w.verify(ctx, tableEvents, 7)
	if err != nil || len(landed) != 0 {
		t.Fatalf("verify: %v, %v", landed, err)
	}
}
