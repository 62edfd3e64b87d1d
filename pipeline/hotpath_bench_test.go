package pipeline

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/loadgen"
)

// hotpathBatch is how many messages one benchmark iteration turns into blocks: the
// default batch.max_rows.
const hotpathBatch = 50_000

// hotpathMessages makes one batch of realistic Kafka messages: loadgen's defaults (half
// bare bodies, half envelopes, 2% malformed, 1% unknown types), a millisecond apart.
func hotpathMessages(tb testing.TB) []kafka.Message {
	tb.Helper()
	gen := loadgen.New(mustCatalog(tb), loadgen.DefaultOptions())
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	msgs := make([]kafka.Message, hotpathBatch)
	for i := range msgs {
		m := gen.Next(start.Add(time.Duration(i) * time.Millisecond))
		msgs[i] = kafka.Message{Topic: "api-errors", Partition: i % 6, Offset: int64(i / 6),
			Key: m.Key, Value: m.Value, Time: m.Time}
	}
	return msgs
}

// rowsToBlocks is the path before columnar batches: a Row per message, checked, then one
// slice per column handed to clickhouse-go's column Append, then the block encoded as it is
// before compression and sending.
type rowsToBlocks struct {
	checker         *event.Checker
	evTypes, qTypes []column.Type
	buf             chproto.Buffer
}

func (p *rowsToBlocks) run(tb testing.TB, msgs []kafka.Message, at time.Time) int {
	var events, quarantine []*Row
	for _, m := range msgs {
		row, checkTime := newRow(m.Topic, nil, m, at)
		checkRow(p.checker, row, checkTime, m.Time)
		if row.Accepted {
			events = append(events, row)
		} else {
			quarantine = append(quarantine, row)
		}
	}
	p.buf.Reset()
	if err := encodeTo(&p.buf, eventColumns, p.evTypes, eventColumnsOf(events, 1, at)); err != nil {
		tb.Fatal(err)
	}
	if err := encodeTo(&p.buf, quarantineColumns, p.qTypes, quarantineColumnsOf(quarantine, 1, at)); err != nil {
		tb.Fatal(err)
	}
	return len(p.buf.Buf)
}

// columnarToBlocks is the ingester's path: a pooled Row per message, checked, appended to
// a Batch (its fields written once into the column buffers) and handed back, then the
// blocks encoded from the buffers as an insert sends them.
type columnarToBlocks struct {
	checker *event.Checker
	sink    Sink
	rows    rowPool
	buf     chproto.Buffer
	parts   []*partition // as an ingester's rows have: they keep no raw message
}

func (p *columnarToBlocks) run(tb testing.TB, msgs []kafka.Message, at time.Time) int {
	b := p.sink.Begin()
	for _, m := range msgs {
		for len(p.parts) <= m.Partition {
			p.parts = append(p.parts, &partition{id: int32(len(p.parts))})
		}
		row := p.rows.get()
		checkTime := row.fill(m.Topic, p.parts[m.Partition], m, at)
		checkRow(p.checker, row, checkTime, m.Time)
		b.Append(row)
		p.rows.put(row)
	}
	p.buf.Reset()
	for _, blk := range []*proto.Block{
		{Columns: b.bufs.ev.columns(allRows(b.bufs.ev.rows()), 1, at)},
		{Columns: b.bufs.q.columns(allRows(b.bufs.q.rows()), 1, at)},
	} {
		if err := blk.Encode(&p.buf, proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
			tb.Fatal(err)
		}
	}
	b.Rollback() // the buffers go back for the next batch, as once a result is accounted
	return len(p.buf.Buf)
}

// BenchmarkHotPath measures a fetched Kafka message's way to encoded ClickHouse blocks
// (events and quarantine) in batches of hotpathBatch: what the ingester spends per event
// outside the Kafka reader and the network. path=rows is the insert path before columnar
// batches (a Row per message kept for the batch, one slice per column, clickhouse-go's
// column Append); path=columnar is the ingester's (see columnarToBlocks). Run with -cpu 1
// for per-core figures (make bench-hotpath); events/cpu-s counts the process's CPU, GC
// included.
func BenchmarkHotPath(b *testing.B) {
	msgs := hotpathMessages(b)
	checker := event.NewChecker(mustCatalog(b), event.Options{})
	at := time.Date(2026, 12, 1, 12, 1, 0, 0, time.UTC)
	b.Run("path=rows", func(b *testing.B) {
		p := &rowsToBlocks{checker: checker, evTypes: columnTypesOf(eventColumns, eventTypes), qTypes: columnTypesOf(quarantineColumns, quarantineTypes)}
		benchBatches(b, len(msgs), func() int { return p.run(b, msgs, at) })
	})
	b.Run("path=columnar", func(b *testing.B) {
		p := &columnarToBlocks{checker: checker, sink: Sink{free: make(chan *batchBufs, keptBuffers)}}
		benchBatches(b, len(msgs), func() int { return p.run(b, msgs, at) })
	})
}

func columnTypesOf(names []string, types map[string]string) []column.Type {
	out := make([]column.Type, len(names))
	for i, n := range names {
		out[i] = column.Type(types[n])
	}
	return out
}

// benchBatches runs batch (which handles n events and returns the bytes it encoded) b.N
// times and reports per-event figures.
func benchBatches(b *testing.B, n int, batch func() int) {
	batch() // warm up buffers and dictionaries
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := processCPU()
	b.ResetTimer()
	bytes := 0
	for range b.N {
		bytes = batch()
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&m1)
	events := float64(n) * float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/events, "allocs/event")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/events, "B/event")
	if cpu > 0 {
		b.ReportMetric(events/cpu.Seconds(), "events/cpu-s")
	}
	b.ReportMetric(float64(bytes)/float64(n), "B/event-encoded")
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
