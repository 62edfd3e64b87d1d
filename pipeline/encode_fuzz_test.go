package pipeline

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// columnTypes reads the real column types of table from a migrated ClickHouse 18.16, in the
// order the sink inserts them.
func columnTypes(t testing.TB, ch *testenv.CH, table string, names []string) []column.Type {
	t.Helper()
	rows, err := ch.Conn.Query(context.Background(), "SELECT name, type FROM system.columns WHERE database = ? AND table = ?", ch.Database, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types := map[string]string{}
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		types[n] = ty
	}
	out := make([]column.Type, len(names))
	for i, n := range names {
		if types[n] == "" {
			t.Fatalf("column %s.%s not in the schema", table, n)
		}
		out[i] = column.Type(types[n])
	}
	return out
}

// encode appends cols to a fresh client block of the given types and encodes it, as
// clickhouse-go does before sending: any refusal here would fail the whole insert.
func encode(names []string, types []column.Type, cols []any) ([]byte, error) {
	var buf chproto.Buffer
	err := encodeTo(&buf, names, types, cols)
	return buf.Buf, err
}

// encodeTo is encode into buf.
func encodeTo(buf *chproto.Buffer, names []string, types []column.Type, cols []any) error {
	b := &proto.Block{}
	for i, n := range names {
		if err := b.AddColumn(n, types[i]); err != nil {
			return err
		}
	}
	for i, c := range cols {
		if _, err := b.Columns[i].Append(c); err != nil {
			return &encodeError{column: names[i], err: err}
		}
	}
	return b.Encode(buf, proto.DBMS_TCP_PROTOCOL_VERSION)
}

// FuzzRecordToBlock drives the whole path a Kafka record takes up to the bytes clickhouse-go
// sends: record time, key, headers and payload of any shape -> row -> checks -> columns ->
// encoded block of the real schema's types. Every record has exactly one outcome (an event
// or a quarantine row with a reason), no record makes the client refuse its block (that
// refusal would stall the batch it is in), and the batch's column buffers encode the record
// to exactly the bytes clickhouse-go makes of today's column slices.
func FuzzRecordToBlock(f *testing.F) {
	ch := testenv.ClickHouse(f)
	if _, err := schema.Migrate(context.Background(), schema.Native(ch.Conn), ch.Database); err != nil {
		f.Fatal(err)
	}
	evTypes := columnTypes(f, ch, tableEvents, eventColumns)
	qTypes := columnTypes(f, ch, tableQuarantine, quarantineColumns)
	checker := event.NewChecker(mustCatalog(f), event.Options{})

	good := `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified"}`
	now := time.Now().UnixMilli()
	f.Add(now, []byte("k"), "h", []byte("v"), []byte(good))
	f.Add(now*1000, []byte(nil), "", []byte(nil), []byte(good)) // microseconds
	f.Add(int64(0), []byte(nil), "", []byte(nil), []byte(`{"status_code":400,"error_type":"x","timestamp":"2200-01-01T00:00:00Z"}`))
	f.Add(int64(-1), []byte{0, 0, 0, 1}, "", []byte(nil), []byte{0, 0, 0, 0, 0, 0}) // a commit marker's shape
	f.Add(int64(-5_000_000), []byte("\x00\xff"), "x", []byte("\xff"), []byte(`{"status_code":599,"error_type":"a","timestamp":-62135596800000}`))
	f.Add(int64(4291747200000), []byte(nil), "", []byte(nil), []byte(`{"status_code":400,"error_type":"a","timestamp":1e300}`))
	f.Add(now, []byte(nil), "", []byte(nil), []byte(`{"status_code":400,"error_type":"a","k\u0000":"\u001b[31m","latency_ms":1e308}`))
	f.Add(now, []byte(nil), "", []byte(nil), make([]byte, 70<<10))

	p := recordPath{checker: checker, evTypes: evTypes, qTypes: qTypes}
	f.Fuzz(func(t *testing.T, ms int64, key []byte, hk string, hv []byte, value []byte) {
		p.run(t, ms, key, hk, hv, value)
	})
}

// recordPath is FuzzRecordToBlock's body, shared with a seeded random sweep that runs in
// every go test (fuzzing itself runs only with -fuzz).
type recordPath struct {
	checker         *event.Checker
	evTypes, qTypes []column.Type
}

func (p recordPath) run(t testing.TB, ms int64, key []byte, hk string, hv []byte, value []byte) *Row {
	t.Helper()
	{
		msg := kafka.Message{Topic: "t", Partition: 3, Offset: 42, Key: key, Value: value,
			Headers: []kafka.Header{{Key: hk, Value: hv}}}
		if ms > 0 { // what kafka-go does with the record's timestamp
			msg.Time = time.Unix(ms/1000, (ms%1000)*int64(time.Millisecond)).UTC()
		}
		received := time.Now()
		row, checkTime := newRow("t", nil, msg, received)
		checkRow(p.checker, row, checkTime, msg.Time)
		if row.Accepted == (row.Reason != "") {
			t.Fatalf("accepted=%v reason=%q: want exactly one outcome", row.Accepted, row.Reason)
		}
		if !event.Storable(row.KafkaTime) {
			t.Fatalf("kafka_time %v cannot be stored", row.KafkaTime)
		}
		at := received.UTC().Truncate(time.Second)
		var (
			err       error
			want, got []byte
		)
		if row.Accepted {
			if !event.Storable(row.Event.Time) {
				t.Fatalf("event time %v cannot be stored", row.Event.Time)
			}
			if row.badKafkaTime && !row.Event.Flags.Has(event.FlagBadTimestamp) {
				t.Fatal("unusable record time not flagged")
			}
			want, err = encode(eventColumns, p.evTypes, eventColumnsOf([]*Row{row}, 1, at))
			var ev eventBuf
			ev.add(row, at)
			got = encodeBlock(t, ev.columns([]span{{0, 1}}, 1, at))
		} else {
			want, err = encode(quarantineColumns, p.qTypes, quarantineColumnsOf([]*Row{row}, 1, at))
			var q quarantineBuf
			q.add(row)
			got = encodeBlock(t, q.columns([]span{{0, 1}}, 1, at))
		}
		if err != nil {
			t.Fatalf("client refuses the row (would stall its batch): %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("column buffers encode the row to %d bytes that differ from clickhouse-go's %d (accepted=%v)", len(got), len(want), row.Accepted)
		}
		return row
	}
}

// TestRandomRecordsToBlock sends thousands of random records down FuzzRecordToBlock's path:
// timestamps in seconds, milliseconds, microseconds, nanoseconds, 0, negative; envelope
// times of every kind; random keys, headers and sizes.
func TestRandomRecordsToBlock(t *testing.T) {
	ch := testenv.ClickHouse(t)
	if _, err := schema.Migrate(context.Background(), schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	p := recordPath{checker: event.NewChecker(mustCatalog(t), event.Options{MaxClockSkew: 1 << 62}),
		evTypes: columnTypes(t, ch, tableEvents, eventColumns), qTypes: columnTypes(t, ch, tableQuarantine, quarantineColumns)}
	r := rand.New(rand.NewPCG(9, 9))
	now := time.Now().UnixMilli()
	stamps := []func() int64{
		func() int64 { return now },
		func() int64 { return now / 1000 },
		func() int64 { return now * 1000 },
		func() int64 { return now * 1_000_000 },
		func() int64 { return 0 },
		func() int64 { return -1 },
		func() int64 { return r.Int64() },
		func() int64 { return -r.Int64() },
	}
	var rows []*Row
	envelope := []string{``, `"2200-01-01T00:00:00Z"`, `"1900-01-01T00:00:00Z"`, `"0001-01-01T00:00:00Z"`,
		`"9999-12-31T23:59:59.999999999Z"`, `7258118400000`, `-1`, `1e15`, `-1e15`, `"2026-01-01T00:00:00+23:59"`, `0`, `4291747199999`}
	for i := 0; i < 5000; i++ {
		body := `{"status_code":` + []string{"400", "599", "100", "600", `"x"`}[r.IntN(5)] +
			`,"error_type":"` + []string{"billing_not_verified", "junk_type", "Bad"}[r.IntN(3)] + `"`
		if ts := envelope[r.IntN(len(envelope))]; ts != "" {
			body += `,"timestamp":` + ts
		}
		for k := r.IntN(50); k > 0; k-- {
			body += `,"k` + strconv.Itoa(k) + `":` + strconv.Itoa(r.Int())
		}
		body += "}"
		if r.IntN(20) == 0 {
			body = string(randBytes(r, r.IntN(1<<17)))
		}
		rows = append(rows, p.run(t, stamps[r.IntN(len(stamps))](), randBytes(r, r.IntN(64)), string(randBytes(r, 8)), randBytes(r, r.IntN(32)), []byte(body)))
	}
	// The same records as one batch, whole and split: what a write, a retry and a split send.
	checkBatchBlocks(t, rows, time.Now().UTC().Truncate(time.Second))
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
