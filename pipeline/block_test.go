package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// TestColumnTypesMatchSchema: the types the encoder writes are the ones the migrations give
// the tables on a real ClickHouse 18.16.
func TestColumnTypesMatchSchema(t *testing.T) {
	ch := testenv.ClickHouse(t)
	if _, err := schema.Migrate(context.Background(), schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		table string
		names []string
		types map[string]string
	}{{tableEvents, eventColumns, eventTypes}, {tableQuarantine, quarantineColumns, quarantineTypes}} {
		got := columnTypes(t, ch, tt.table, tt.names)
		if len(tt.types) != len(tt.names) {
			t.Errorf("%s: %d types for %d columns", tt.table, len(tt.types), len(tt.names))
		}
		for i, n := range tt.names {
			if string(got[i]) != tt.types[n] {
				t.Errorf("%s.%s is %s on the server, the encoder writes %s", tt.table, n, got[i], tt.types[n])
			}
		}
	}
}

// encodeRows is the reference: the rows as clickhouse-go v2.25.0 encodes them from one
// slice per column (the path before columnar batches).
func encodeRows(t testing.TB, rows []*Row, events bool, id uint64, at time.Time) []byte {
	t.Helper()
	var buf chproto.Buffer
	var err error
	if events {
		err = encodeTo(&buf, eventColumns, columnTypesOf(eventColumns, eventTypes), eventColumnsOf(rows, id, at))
	} else {
		err = encodeTo(&buf, quarantineColumns, columnTypesOf(quarantineColumns, quarantineTypes), quarantineColumnsOf(rows, id, at))
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Buf
}

// TestBlocksMatchClickHouseGo: a batch's column buffers encode to exactly the bytes
// clickhouse-go makes of the same rows, for realistic traffic and for the random records
// of TestRandomRecordsToBlock's kinds; and encoding twice gives the same bytes.
func TestBlocksMatchClickHouseGo(t *testing.T) {
	checker := event.NewChecker(mustCatalog(t), event.Options{})
	at := time.Date(2026, 12, 1, 12, 1, 0, 0, time.UTC)
	msgs := hotpathMessages(t)[:5000]
	msgs = append(msgs,
		kafka.Message{Topic: "other", Partition: 1, Offset: 7, Value: []byte(`{"status_code":400,"error_type":"x","timestamp":"2200-01-01T00:00:00Z","a":[1,{"b":"\u00e9"}]}`)},
		kafka.Message{Topic: "t", Partition: 2, Offset: 8, Time: time.Unix(-5, 0), Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}},
		kafka.Message{Topic: "t", Partition: 2, Offset: 9, Value: []byte(`{"status_code":400,"error_type":"a","k\u0000":"\u001b[31m","latency_ms":1e308,"flags":1}`)},
	)
	var events, quarantine []*Row
	var ev eventBuf
	var q quarantineBuf
	for _, m := range msgs {
		row, checkTime := newRow(m.Topic, nil, m, at)
		checkRow(checker, row, checkTime, m.Time)
		if row.Accepted {
			events = append(events, row)
			ev.add(row, at)
		} else {
			quarantine = append(quarantine, row)
			q.add(row)
		}
	}
	if len(events) == 0 || len(quarantine) == 0 {
		t.Fatalf("%d events, %d quarantined: want both", len(events), len(quarantine))
	}
	enc := func(cols []column.Interface) []byte {
		var buf chproto.Buffer
		if err := (&proto.Block{Columns: cols}).Encode(&buf, proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
			t.Fatal(err)
		}
		return buf.Buf
	}
	all := func(n int) []span { return []span{{0, n}} }
	if got, want := enc(ev.columns(all(ev.rows()), 42, at)), encodeRows(t, events, true, 42, at); !bytes.Equal(got, want) {
		t.Errorf("events block differs from clickhouse-go's: %d bytes, want %d", len(got), len(want))
	}
	if got, want := enc(q.columns(all(q.rows()), 42, at)), encodeRows(t, quarantine, false, 42, at); !bytes.Equal(got, want) {
		t.Errorf("quarantine block differs from clickhouse-go's: %d bytes, want %d", len(got), len(want))
	}
	if a, b := enc(ev.columns(all(ev.rows()), 42, at)), enc(ev.columns(all(ev.rows()), 42, at)); !bytes.Equal(a, b) {
		t.Error("the same rows encode differently twice")
	}
}

// encodeBlock encodes cols as clickhouse-go encodes an insert block before compression.
func encodeBlock(t testing.TB, cols []column.Interface) []byte {
	t.Helper()
	var buf chproto.Buffer
	if err := (&proto.Block{Columns: cols}).Encode(&buf, proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
		t.Fatal(err)
	}
	return buf.Buf
}

// decodedRows decodes a block with clickhouse-go's own decoder into its values, row by row.
func decodedRows(t testing.TB, block []byte) [][]any {
	t.Helper()
	var b proto.Block
	if err := b.Decode(chproto.NewReader(bytes.NewReader(block)), proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
		t.Fatalf("clickhouse-go cannot decode the block: %v", err)
	}
	out := make([][]any, b.Rows())
	for i := range out {
		for _, c := range b.Columns {
			out[i] = append(out[i], c.Row(i, false))
		}
	}
	return out
}

// checkBatchBlocks puts rows (checked records, accepted or not) in one batch's column
// buffers and checks what the writer would send: the whole batch byte for byte as
// clickhouse-go encodes today's column slices, twice alike (a retry sends the same bytes),
// any set of its rows (a split) decoding to the values clickhouse-go encodes of those rows,
// and refused events going to quarantine as refusal names them, raw payload included.
func checkBatchBlocks(t *testing.T, rows []*Row, at time.Time) {
	t.Helper()
	var (
		events, quarantine []*Row
		ev                 eventBuf
		q                  quarantineBuf
	)
	for _, r := range rows {
		if r.Accepted {
			events = append(events, r)
			ev.add(r, at)
		} else {
			quarantine = append(quarantine, r)
			q.add(r)
		}
	}
	if len(events) < 4 || len(quarantine) < 4 {
		t.Fatalf("%d events, %d quarantined: want both kinds", len(events), len(quarantine))
	}
	all := func(n int) []span { return []span{{0, n}} }
	if got, want := encodeBlock(t, ev.columns(all(ev.rows()), 42, at)), encodeRows(t, events, true, 42, at); !bytes.Equal(got, want) {
		t.Errorf("events block differs from clickhouse-go's: %d bytes, want %d", len(got), len(want))
	}
	if got, want := encodeBlock(t, q.columns(all(q.rows()), 42, at)), encodeRows(t, quarantine, false, 42, at); !bytes.Equal(got, want) {
		t.Errorf("quarantine block differs from clickhouse-go's: %d bytes, want %d", len(got), len(want))
	}
	if a, b := encodeBlock(t, ev.columns(all(ev.rows()), 42, at)), encodeBlock(t, ev.columns(all(ev.rows()), 42, at)); !bytes.Equal(a, b) {
		t.Error("the same rows encode differently twice")
	}

	// Splits: halves, a single row, and two separate runs (what is left after a bad row).
	n := len(events)
	for _, spans := range [][]span{{{0, n / 2}}, {{n / 2, n}}, {{n - 1, n}}, {{0, 1}, {2, n}}, {{1, n / 3}, {n/3 + 1, n - 1}}} {
		var sub []*Row
		for _, s := range spans {
			sub = append(sub, events[s.lo:s.hi]...)
		}
		// Byte for byte: a LowCardinality dictionary holds only the values of the block's own
		// rows, as clickhouse-go's would (the server may evaluate expressions on it).
		gotBlock, wantBlock := encodeBlock(t, ev.columns(spans, 7, at)), encodeRows(t, sub, true, 7, at)
		if !bytes.Equal(gotBlock, wantBlock) {
			t.Errorf("events %v encode differently from clickhouse-go's block of the same rows", spans)
		}
		got, want := decodedRows(t, gotBlock), decodedRows(t, wantBlock)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("events %v decode to other values than clickhouse-go's block of the same rows", spans)
		}
	}

	// Refused events: quarantined from the buffers as the rows path quarantined them.
	var (
		refused []*Row
		rq      quarantineBuf
	)
	for i, r := range events[:4] {
		err := error(&encodeError{column: "path", err: errors.New("bad")})
		if i%2 == 1 {
			err = errors.New("code: 27, message: Cannot parse input")
		}
		q := *r
		q.Accepted = false
		q.Reason, q.Detail = refusal(err)
		refused = append(refused, &q)
		rq.addRefused(&ev, i, q.Reason, q.Detail, ev.payload.value(i), ev.key.value(i))
	}
	if got, want := encodeBlock(t, rq.columns(all(rq.rows()), 9, at)), encodeRows(t, refused, false, 9, at); !bytes.Equal(got, want) {
		t.Errorf("refused events' quarantine block differs from clickhouse-go's: %d bytes, want %d", len(got), len(want))
	}
}

// TestBatchBlocksRealistic runs checkBatchBlocks on a loadgen batch plus hostile records.
func TestBatchBlocksRealistic(t *testing.T) {
	checker := event.NewChecker(mustCatalog(t), event.Options{})
	at := time.Date(2026, 12, 1, 12, 1, 0, 0, time.UTC)
	msgs := hotpathMessages(t)[:3000]
	msgs = append(msgs,
		kafka.Message{Topic: "other", Partition: 1, Offset: 7, Value: []byte(`{"status_code":400,"error_type":"x","timestamp":"2200-01-01T00:00:00Z","a":[1,{"b":"\u00e9"}]}`)},
		kafka.Message{Topic: "t", Partition: 2, Offset: 8, Time: time.Unix(-5, 0), Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}},
	)
	var rows []*Row
	for _, m := range msgs {
		row, checkTime := newRow(m.Topic, nil, m, at)
		checkRow(checker, row, checkTime, m.Time)
		rows = append(rows, row)
	}
	checkBatchBlocks(t, rows, at)
}

// TestLowCardKeyWidths: the dictionary key width changes at 255 and 65535 distinct values,
// and at each size the column encodes as clickhouse-go's LowCardinality(String) does.
func TestLowCardKeyWidths(t *testing.T) {
	for _, tt := range []struct {
		name     string
		distinct int
		rows     int
	}{
		{"no rows", 0, 0},
		{"one value", 1, 10},
		{"empty string only", 0, 3},
		{"254 values, 8-bit keys", 254, 600},
		{"255 values, 16-bit keys", 255, 600},
		{"65534 values, 16-bit keys", 65534, 70000},
		{"65535 values, 32-bit keys", 65535, 70000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vals := make([]string, tt.rows)
			for i := range vals {
				if tt.distinct > 0 {
					// Runs of repeats (the previous-row shortcut) and revisits (the index).
					vals[i] = "v" + strconv.Itoa((i/2)%tt.distinct)
				}
			}
			var c lowCardCol
			for _, v := range vals {
				c.add(v)
			}
			for i, v := range vals {
				if c.value(i) != v {
					t.Fatalf("row %d: %q, want %q", i, c.value(i), v)
				}
			}
			got := encodeBlock(t, newColumns([]string{"x"}, map[string]string{"x": "LowCardinality(String)"}, tt.rows,
				map[string]func(*chproto.Buffer){"x": func(b *chproto.Buffer) { c.write(b, []span{{0, tt.rows}}) }}))
			var want chproto.Buffer
			if err := encodeTo(&want, []string{"x"}, []column.Type{"LowCardinality(String)"}, []any{vals}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Buf) {
				t.Errorf("%d bytes differ from clickhouse-go's %d", len(got), len(want.Buf))
			}
			c.reset()
			c.add("after reset")
			if c.value(0) != "after reset" || len(c.keys) != 1 {
				t.Errorf("reset left state: value %q, %d keys", c.value(0), len(c.keys))
			}
		})
	}
}

// TestLowCardNumbered: values added by catalog number encode exactly as added by value,
// mixed with plain adds, across a reset, and when a number comes back with another string
// (a batch spanning a catalog reload).
func TestLowCardNumbered(t *testing.T) {
	type add struct {
		n int // -1: by value
		s string
	}
	for _, tt := range []struct {
		name string
		adds []add
	}{
		{"numbered only", []add{{3, "a"}, {1, "b"}, {3, "a"}, {3, "a"}, {1, "b"}}},
		{"mixed with plain adds", []add{{-1, "b"}, {0, "a"}, {1, "b"}, {-1, "a"}, {0, "a"}, {1, "b"}}},
		{"a number with another string", []add{{0, "a"}, {0, "b"}, {0, "a"}, {1, "a"}, {0, "b"}}},
		{"empty strings", []add{{2, ""}, {-1, ""}, {2, ""}, {5, "x"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c lowCardCol
			for round := 0; round < 2; round++ { // the second after a reset
				c.reset()
				vals := make([]string, len(tt.adds))
				for i, a := range tt.adds {
					vals[i] = a.s
					if a.n < 0 {
						c.add(a.s)
					} else {
						c.addNumbered(a.n, a.s)
					}
				}
				for i, v := range vals {
					if c.value(i) != v {
						t.Fatalf("round %d row %d: %q, want %q", round, i, c.value(i), v)
					}
				}
				got := encodeBlock(t, newColumns([]string{"x"}, map[string]string{"x": "LowCardinality(String)"}, len(vals),
					map[string]func(*chproto.Buffer){"x": func(b *chproto.Buffer) { c.write(b, []span{{0, len(vals)}}) }}))
				var want chproto.Buffer
				if err := encodeTo(&want, []string{"x"}, []column.Type{"LowCardinality(String)"}, []any{vals}); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want.Buf) {
					t.Errorf("round %d: %d bytes differ from clickhouse-go's %d", round, len(got), len(want.Buf))
				}
			}
		})
	}
}

// TestStrColumns: String and Array(String) buffers keep values exactly (empty, binary,
// longer than one varint byte) and encode as clickhouse-go does.
func TestStrColumns(t *testing.T) {
	vals := []string{"", "a", "\x00\xff", strings.Repeat("é", 100), strings.Repeat("x", 70<<10)}
	var s strCol
	var a strArrCol
	arrays := make([][]string, len(vals))
	for i, v := range vals {
		s.add(v)
		if string(s.value(i)) != v {
			t.Errorf("row %d: %q, want %q", i, s.value(i), v)
		}
		for _, item := range vals[:i] {
			a.item(item)
		}
		a.endRow()
		arrays[i] = append([]string{}, vals[:i]...)
	}
	for _, tt := range []struct {
		typ   string
		write func(*chproto.Buffer, []span)
		col   any
	}{{"String", s.write, vals}, {"Array(String)", a.write, arrays}} {
		got := encodeBlock(t, newColumns([]string{"x"}, map[string]string{"x": tt.typ}, len(vals),
			map[string]func(*chproto.Buffer){"x": func(b *chproto.Buffer) { tt.write(b, []span{{0, len(vals)}}) }}))
		var want chproto.Buffer
		if err := encodeTo(&want, []string{"x"}, []column.Type{column.Type(tt.typ)}, []any{tt.col}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Buf) {
			t.Errorf("%s: %d bytes differ from clickhouse-go's %d", tt.typ, len(got), len(want.Buf))
		}
	}
}

// TestInsertStoresWhatClickHouseGoStored: rows inserted through the sink (column buffers,
// sent by clickhouse-go) read back from ClickHouse 18.16 exactly as the same rows inserted
// the way before (clickhouse-go's own columns, value by value) into a copy of each table.
func TestInsertStoresWhatClickHouseGoStored(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(ctx, ch.Conn, WriterConfig{Database: ch.Database, InsertTimeout: 30 * time.Second,
		Retry: RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, FatalBackoff: time.Millisecond}},
		prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	checker := event.NewChecker(mustCatalog(t), event.Options{})
	at := time.Now().UTC().Truncate(time.Second)
	msgs := append(hotpathMessages(t)[:2000],
		kafka.Message{Topic: "t", Partition: 2, Offset: 8, Time: time.Unix(-5, 0), Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}},
		kafka.Message{Topic: "t", Partition: 2, Offset: 9, Value: []byte(`{"status_code":400,"error_type":"a","k\u0000":"\u001b[31m","latency_ms":1e308}`)},
	)
	var events, quarantine []*Row
	for _, m := range msgs {
		row, checkTime := newRow(m.Topic, nil, m, at)
		checkRow(checker, row, checkTime, m.Time)
		if row.Accepted {
			events = append(events, row)
		} else {
			quarantine = append(quarantine, row)
		}
	}
	bufs := resultOf(append(events, quarantine...)).bufs
	refused := *events[0]
	refused.Accepted = false
	refused.Reason, refused.Detail = refusal(errors.New("code: 27, message: Cannot parse"))
	quarantine = append(quarantine, &refused)
	bufs.q.addRefused(&bufs.ev, 0, refused.Reason, refused.Detail, bufs.ev.payload.value(0), bufs.ev.key.value(0))
	for _, tt := range []struct {
		table string
		buf   tableRows
		rows  []*Row
		names []string
		cols  []any
	}{
		{tableEvents, &bufs.ev, events, eventColumns, eventColumnsOf(events, 42, at)},
		{tableQuarantine, &bufs.q, quarantine, quarantineColumns, quarantineColumnsOf(quarantine, 42, at)},
	} {
		if err := s.insert(ctx, tt.table, tt.buf, allRows(tt.buf.rows()), 42, at); err != nil {
			t.Fatalf("insert into %s: %v", tt.table, err)
		}
		ref := tt.table + "_ref"
		if err := ch.Conn.Exec(ctx, "CREATE TABLE `"+ch.Database+"`."+ref+" AS `"+ch.Database+"`."+tt.table); err != nil {
			t.Fatal(err)
		}
		b, err := ch.Conn.PrepareBatch(ctx, insertStatement(ch.Database, ref, tt.names))
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range tt.cols {
			if err := b.Column(i).Append(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
		got, want := storedRows(t, ch, tt.table), storedRows(t, ch, ref)
		if len(got) != len(tt.rows) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d rows stored from the column buffers differ from the %d clickhouse-go stored", tt.table, len(got), len(want))
		}
	}
}

// storedRows reads a whole table in a fixed order, each row as its scanned values.
func storedRows(t *testing.T, ch *testenv.CH, table string) [][]any {
	t.Helper()
	rows, err := ch.Conn.Query(context.Background(), "SELECT * FROM `"+ch.Database+"`."+table+" ORDER BY kafka_topic, kafka_partition, kafka_offset, fingerprint")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		dest := make([]any, len(rows.ColumnTypes()))
		for i, ct := range rows.ColumnTypes() {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		out = append(out, dest)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A server whose header differs from the encoder's types refuses the insert on the client
// side (client_rejected after the split), naming the column; nothing is sent.
func TestSetBlockColumnsChecksHeader(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	if err := ch.Conn.Exec(ctx, "CREATE TABLE `"+ch.Database+"`.q (received_at DateTime, reason String) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	b, err := ch.Conn.PrepareBatch(ctx, "INSERT INTO `"+ch.Database+"`.q (received_at, reason)")
	if err != nil {
		t.Fatal(err)
	}
	var q quarantineBuf
	q.add(&Row{Reason: "x"})
	cols := q.columns([]span{{0, 1}}, 1, time.Now())[:2] // received_at DateTime, reason LowCardinality(String)
	err = setBlockColumns(b, cols)
	var enc *encodeError
	if !errors.As(err, &enc) || enc.column != "reason" || classify(err) != classData {
		t.Fatalf("setBlockColumns = %v, want the client refusing column reason", err)
	}
	_ = b.Abort()
	if _, err := batchBlock(nil); !errors.Is(err, errBatchLayout) {
		t.Fatalf("batchBlock(nil) = %v, want errBatchLayout", err)
	}
}
