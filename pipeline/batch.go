package pipeline

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/faultline/faultline/event"
)

// Batch is a set of rows that become visible in ClickHouse together: Append rows, then Commit
// (store every row exactly once) or Rollback (store nothing). A batch is unusable afterwards.
//
// Append writes each row's fields once, into the batch's column buffers (block.go), and
// keeps no Row: the caller may reuse it at once. Commit sends blocks encoded from those
// buffers; any subset of their rows (a retry without what landed, a half of a split) encodes
// the same way, so nothing is rebuilt per attempt.
type Batch struct {
	sink   *Sink
	bufs   *batchBufs
	opened time.Time // stands in for an event time a DateTime cannot hold
	bytes  int
	done   bool
}

// batchBufs are a batch's column buffers. Once its result is accounted they go back to the
// sink for a later batch, so that a steady stream neither allocates nor grows buffers (a
// sync.Pool would hand them to the collector at every GC cycle).
type batchBufs struct {
	ev eventBuf
	q  quarantineBuf
}

// Begin starts an empty batch.
func (s *Sink) Begin() *Batch {
	var bufs *batchBufs
	select {
	case bufs = <-s.free:
	default:
		bufs = &batchBufs{}
	}
	return &Batch{sink: s, bufs: bufs, opened: time.Now().UTC().Truncate(time.Second)}
}

// recycle resets bufs and keeps them for a later batch.
func (s *Sink) recycle(bufs *batchBufs) {
	if bufs == nil {
		return
	}
	bufs.ev.reset()
	bufs.q.reset()
	select {
	case s.free <- bufs:
	default: // enough kept; the collector takes these
	}
}

// Append adds a row: an accepted event to the events columns, a rejected message to the
// quarantine columns. The batch keeps nothing of r. It returns about what the row takes in
// the batch's buffers, what Bytes adds up.
func (b *Batch) Append(r *Row) (held int) {
	if b.done {
		panic("pipeline: Append on a committed or rolled back batch")
	}
	if r.Accepted {
		held = b.bufs.ev.add(r, b.opened)
	} else {
		b.bufs.q.add(r)
		held = r.heldBytes()
	}
	b.bytes += held
	return held
}

// Len is the number of rows appended.
func (b *Batch) Len() int { return b.bufs.ev.rows() + b.bufs.q.rows() }

// Bytes is about the memory the appended rows take in the column buffers.
func (b *Batch) Bytes() int { return b.bytes }

// Rollback discards the batch without storing anything.
func (b *Batch) Rollback() {
	b.done = true
	b.sink.recycle(b.bufs)
	b.bufs = nil
}

// Result says what a Commit stored.
type Result struct {
	Events     int // rows stored in events
	Quarantine int // rows stored in quarantine: rejected by the checks or refused by ClickHouse
	Abandoned  int // rows of partitions given up during the commit, left for their next owner

	// The rows stored, as spans of the batch's buffers, for the committer to account.
	bufs               *batchBufs
	events, quarantine []span
	sink               *Sink
}

// release hands the batch's buffers back to the sink; the result's rows are gone after it.
func (r *Result) release() {
	if r.sink != nil {
		r.sink.recycle(r.bufs)
	}
	r.bufs, r.events, r.quarantine, r.sink = nil, nil, nil, nil
}

// Commit stores every row in events or quarantine and returns once all are stored. It
// retries by error class until ctx ends; an error means ctx ended first, and then rows may be
// partly stored: the Kafka offsets must not be committed, and the rows' next reader skips
// what is stored (see Ingester). Events go first so that rows ClickHouse refuses join the
// quarantine insert of the same commit.
func (b *Batch) Commit(ctx context.Context) (Result, error) {
	if b.done {
		panic("pipeline: Commit on a committed or rolled back batch")
	}
	b.done = true
	res := Result{bufs: b.bufs, sink: b.sink}
	at := time.Now().UTC().Truncate(time.Second)
	w := &tableWrite{sink: b.sink, at: at, res: &res, ev: &b.bufs.ev, q: &b.bufs.q}
	if err := w.store(ctx, tableEvents, allRows(w.ev.rows())); err != nil {
		return res, err
	}
	// Events ClickHouse refused were added to the quarantine columns.
	if err := w.store(ctx, tableQuarantine, allRows(w.q.rows())); err != nil {
		return res, err
	}
	return res, nil
}

// tableRows is one table's rows of a batch, in its column buffers.
type tableRows interface {
	rows() int
	coordinates(i int) rowKey
	fingerprintOf(i int) uint64
	partitionOf(i int) *partition // nil for rows not read by the ingester (requeue, tests)
	payloadLen(i int) int
	columns(spans []span, id uint64, at time.Time) []column.Interface
}

var (
	_ tableRows = (*eventBuf)(nil)
	_ tableRows = (*quarantineBuf)(nil)
)

var eventColumns = []string{
	"event_time", "event_time_ms", "status_code", "error_type", "request_id", "error_message",
	"error_url", "environment", "category", "actor", "known", "flags", "method", "path",
	"project_id", "organization_id", "member_id", "client", "region", "latency_ms",
	"attr_keys", "attr_values", "catalog_version", "kafka_topic", "kafka_partition",
	"kafka_offset", "kafka_time", "ingested_at", "insert_id", "fingerprint",
}

var quarantineColumns = []string{
	"received_at", "reason", "detail", "payload", "payload_bytes", "kafka_topic",
	"kafka_partition", "kafka_offset", "kafka_time", "kafka_key", "insert_id", "fingerprint",
}

// storableOr returns t if a DateTime column holds it, else fallback.
func storableOr(t, fallback time.Time) time.Time {
	if event.Storable(t) {
		return t
	}
	return fallback
}
