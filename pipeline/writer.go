package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/schema"
)

const (
	tableEvents        = "events"
	tableQuarantine    = "quarantine"
	tableStoredOffsets = "stored_offsets"
	tableRollup        = "events_per_minute"
)

// Sink writes batches of rows to ClickHouse.
type Sink struct {
	conn driver.Conn
	// replicas are one connection to each replica of a cluster's shard (nil on a single
	// server): the skip read syncs one replica and reads that same server, and the fence
	// looks for inserts on every replica.
	replicas []driver.Conn
	db       string
	log      *slog.Logger
	m        *writerMetrics
	retry    RetryConfig
	// dedupToken: the server knows insert_deduplication_token (22.2+), so a retried block is
	// also deduplicated by the server where the table has a deduplication window.
	dedupToken bool
	// timeout bounds each insert attempt and each read-back: clickhouse-go's read timeout
	// does not cover Send, and a hung server must become an error, not a stall.
	timeout time.Duration
	// window is how many offsets one skip read covers (skipWindow; tests make it small).
	window int64

	// attemptMu is read-held for each insert attempt (several run at once). A partition
	// being given up write-locks it once after marking itself abandoned: that waits out every
	// attempt in flight, and every later attempt drops its rows, so no zombie insert can land
	// after the partition's next owner has read what is stored.
	attemptMu sync.RWMutex

	// fatal holds the last fatal insert error until an insert succeeds: /readyz reports it.
	fatal atomic.Pointer[error]
	// failing is the first failed attempt since the last insert that succeeded, and its
	// table and latest error; nil while inserts succeed. Ready reports a failure that lasts.
	failing atomic.Pointer[insertFailure]

	insertSQL map[string]string
	// readTable names the table each logical table is read back from (verify, skip read):
	// itself on a single server, the shard's local table on a cluster.
	readTable map[string]string
	// settings go with every insert (insert_distributed_sync on a cluster's Distributed
	// tables).
	settings clickhouse.Settings
	// shard names the shard this sink writes to in logs; "" on a single server.
	shard string
	// replicated: the tables deduplicate a repeated block (ReplicatedMergeTree), so a
	// failed insert is retried as the same block rather than as the rows that did not land.
	replicated bool
	// rollupTable is the per-minute rollup's local table, which repairViews writes; "" off a
	// cluster.
	rollupTable string
	// checkViews: the views of a block that landed while its insert failed are checked and
	// written (views.go). Only with local inserts, where the block was written on the
	// replica the checks read; a Distributed insert may have put it on the other one.
	checkViews bool

	// reread reads a message back from Kafka by its offset: an ingester's batches keep no
	// raw messages, and an event ClickHouse refuses goes to quarantine whole. nil for a
	// Sink alone (requeue), whose rows keep their messages.
	reread func(ctx context.Context, topic string, partition int32, offset int64) (kafka.Message, error)

	// free keeps the column buffers of accounted batches for later ones: as many as are
	// filled and stored at once on a steady stream.
	free chan *batchBufs
}

// NewSink returns a Sink writing into cfg.Database over conn.
// Every insert attempt and read-back gets cfg.InsertTimeout.
// Its metrics are created on reg.
func NewSink(ctx context.Context, conn driver.Conn, cfg WriterConfig, reg prometheus.Registerer, log *slog.Logger) (*Sink, error) {
	return newSink(ctx, conn, cfg, newWriterMetrics(reg), log)
}

// NewDistributedSink is NewSink for a Sink alone (ingest requeue) on a cluster: conn reaches
// its Distributed tables over Replicated ones. Inserts wait until every shard has its rows
// (insert_distributed_sync), a failed insert is sent again as the same block, which the
// shards drop where they already hold it, and reads go through the Distributed tables. An
// ingester does not use it: its lanes write shard by shard (ClusterConfig).
func NewDistributedSink(ctx context.Context, conn driver.Conn, cfg WriterConfig, reg prometheus.Registerer, log *slog.Logger) (*Sink, error) {
	s, err := NewSink(ctx, conn, cfg, reg, log)
	if err != nil {
		return nil, err
	}
	s.settings = clickhouse.Settings{"insert_distributed_sync": 1}
	s.replicated = true // checkViews stays off, as for an ingester's Distributed inserts
	return s, nil
}

// newSink is NewSink counting into m, which several sinks of one ingester may share.
func newSink(ctx context.Context, conn driver.Conn, cfg WriterConfig, m *writerMetrics, log *slog.Logger) (*Sink, error) {
	if err := schema.ValidateDatabase(cfg.Database); err != nil {
		return nil, err
	}
	s := &Sink{conn: conn, db: cfg.Database, log: log, m: m, free: make(chan *batchBufs, keptBuffers), retry: cfg.Retry, timeout: cfg.InsertTimeout, window: skipWindow, insertSQL: map[string]string{
		tableEvents:     insertStatement(cfg.Database, tableEvents, eventColumns),
		tableQuarantine: insertStatement(cfg.Database, tableQuarantine, quarantineColumns),
	}, readTable: map[string]string{
		tableEvents: tableEvents, tableQuarantine: tableQuarantine, tableStoredOffsets: tableStoredOffsets,
	}}
	if v, err := conn.ServerVersion(); err == nil {
		s.dedupToken = v.Version.Major > 22 || (v.Version.Major == 22 && v.Version.Minor >= 2)
	}
	return s, nil
}

// keptBuffers is how many batches' column buffers a sink keeps for reuse: the one being
// filled while another is stored.
const keptBuffers = 2

// writerMetrics are the table writer's metrics.
type writerMetrics struct {
	BatchRows      *prometheus.HistogramVec
	BatchBytes     *prometheus.HistogramVec
	InsertDuration *prometheus.HistogramVec
	InsertErrors   *prometheus.CounterVec
	InsertRetries  *prometheus.CounterVec
	RetryCauses    *prometheus.CounterVec
	ViewsRepaired  *prometheus.CounterVec
	ViewsUnchecked *prometheus.CounterVec
	RowsStored     *prometheus.CounterVec
	RereadErrors   prometheus.Counter
}

// newWriterMetrics creates the writer's metrics on reg, each table and error class at zero.
func newWriterMetrics(reg prometheus.Registerer) *writerMetrics {
	f := promauto.With(reg)
	histogramVec := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return f.NewHistogramVec(prometheus.HistogramOpts{Namespace: metrics.Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &writerMetrics{
		BatchRows: histogramVec("batch_rows", "Rows per insert, by table.",
			prometheus.ExponentialBuckets(1, 4, 10), "table"),
		BatchBytes: histogramVec("batch_bytes", "Message bytes per insert, by table.",
			prometheus.ExponentialBuckets(1024, 4, 10), "table"),
		InsertDuration: histogramVec("insert_duration_seconds", "Duration of successful inserts, by table.",
			prometheus.ExponentialBuckets(0.001, 2.5, 12), "table"),
		InsertErrors: counterVec(f, "insert_errors_total",
			"Failed insert attempts, by table and class (retryable, data, fatal).", "table", "class"),
		InsertRetries: counterVec(f, "insert_retries_total",
			"Insert attempts repeated after an error, by table and class.", "table", "class"),
		RetryCauses: counterVec(f, "insert_retry_causes_total",
			"Insert attempts repeated after a retryable error, by table and cause (connection, timeout, replica_readonly, zookeeper, shard_unavailable, too_many_parts, memory, other).", "table", "cause"),
		ViewsRepaired: counterVec(f, "views_repaired_total",
			"Blocks that landed in a Replicated table while the insert failed, whose views (stored_offsets, the rollup) the ingester wrote itself, by table.", "table"),
		ViewsUnchecked: counterVec(f, "views_unchecked_total",
			"Blocks that landed in a Replicated table while the insert failed whose views could not be checked (no replica of the shard could sync in time): stored_offsets may lack them, and a next owner of their partitions store them again, by table.", "table"),
		RowsStored: counterVec(f, "rows_stored_total",
			"Rows written to ClickHouse, by table.", "table"),
		RereadErrors: counter(f, "refused_reread_errors_total",
			"Failed reads of a refused event's message back from Kafka for its quarantine row (after the last, it is stored without its payload)."),
	}
	for _, tbl := range []string{tableEvents, tableQuarantine} {
		m.RowsStored.WithLabelValues(tbl)
		m.ViewsRepaired.WithLabelValues(tbl)
		m.ViewsUnchecked.WithLabelValues(tbl)
		for _, c := range retryCauses {
			m.RetryCauses.WithLabelValues(tbl, c)
		}
		for _, c := range []errorClass{classRetryable, classData, classFatal} {
			m.InsertErrors.WithLabelValues(tbl, string(c))
			m.InsertRetries.WithLabelValues(tbl, string(c))
		}
	}
	return m
}

func insertStatement(db, table string, cols []string) string {
	q := "INSERT INTO `" + db + "`." + table + " ("
	for i, c := range cols {
		if i > 0 {
			q += ", "
		}
		q += c
	}
	return q + ")"
}

// tableWrite is one Commit's progress. Rows are spans of the batch's column buffers: the
// writer narrows them (rows that landed, of abandoned partitions, halves of a split) and
// never copies a row, except an event the server refuses, which joins the quarantine
// columns with its raw message.
type tableWrite struct {
	sink *Sink
	at   time.Time
	res  *Result
	ev   *eventBuf
	q    *quarantineBuf
}

func (w *tableWrite) table(name string) tableRows {
	if name == tableEvents {
		return w.ev
	}
	return w.q
}

// store inserts rows into table, retrying by class and splitting on data errors.
func (w *tableWrite) store(ctx context.Context, table string, rows []span) error {
	s := w.sink
	buf := w.table(table)
	var ids attemptID
	for attempt := 0; ; attempt++ {
		start := time.Now()
		var (
			err error
			id  uint64
		)
		rows, id, err = w.attempt(ctx, table, rows, &ids)
		n := spansLen(rows)
		if n == 0 {
			// Every row left belonged to partitions given up: nothing is failing any more.
			s.failing.Store(nil)
			return nil
		}
		if err == nil {
			s.fatal.Store(nil)
			s.failing.Store(nil)
			s.m.InsertDuration.WithLabelValues(table).Observe(time.Since(start).Seconds())
			if s.replicated && ids.failed && id == ids.id {
				// This block was sent before and failed: the success may be the table
				// dropping it as a repeat of an attempt that did land, without its views.
				if err := w.afterRepeat(ctx, table, rows, id); err != nil {
					return err
				}
			}
			w.stored(table, rows)
			return nil
		}
		ids.failed = true
		if ctx.Err() != nil {
			return fmt.Errorf("insert into %s.%s: %w", s.db, table, ctx.Err())
		}
		class := classify(err)
		s.m.InsertErrors.WithLabelValues(table, string(class)).Inc()
		s.noteFailure(table, err)
		if class == classFatal {
			s.fatal.Store(&err)
		}
		// Whatever the error, some rows may have landed (a lost reply, a failing view):
		// read back what this attempt stored and only ever retry the rest.
		landed, verr := w.verify(ctx, table, id)
		if verr != nil {
			return verr
		}
		if s.replicated && class == classRetryable && !s.checkViews && len(landed) == n && !unknownStatus(err) {
			// Through the Distributed tables 18.16 fails every insert while any shard is
			// down, even one whose rows all went to a shard that is up: a repeat would fail
			// the same way until that shard is back. The attempt is over on every replica
			// (landed waited it out), so its rows are committed. Views are not checked in
			// this mode (see checkViews).
			w.stored(table, rows)
			return nil
		}
		if s.replicated && class == classRetryable {
			// A Replicated table: send the very same block again (same rows, same insert
			// id). What of it was committed is dropped as a duplicate block, and the views
			// (the rollup, stored_offsets), which an insert that failed after its parts were
			// committed never fed (seen with ZooKeeper stopped: "Connection loss", then
			// read-only), get it in afterRepeat. Subtracting the landed rows would leave
			// them without. Rows read back are no proof either, even all of them: a part is
			// visible while its commit to ZooKeeper is still pending, and is removed if the
			// commit fails (seen with ZooKeeper stopped: the rows were read back, the batch
			// committed, and the part gone); only a repeat the table accepts settles it.
			s.m.InsertRetries.WithLabelValues(table, string(class)).Inc()
			s.m.RetryCauses.WithLabelValues(table, retryCause(err)).Inc()
			wait := s.backoff(class, attempt)
			if len(landed) > 0 && !ids.repeated {
				// Right away, once: the table drops a repeat only within its deduplication
				// window (replicated_deduplication_window blocks). After that the backoff
				// holds: a read-only table refuses the repeat as fast as it is sent.
				wait = 0
				ids.repeated = true
			}
			s.log.Warn("insert failed; sending the same block again", "table", table, "shard", s.shard, "rows", n,
				"landed", len(landed), "cause", retryCause(err), "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "error", err)
			if err := sleep(ctx, wait); err != nil {
				return fmt.Errorf("insert into %s.%s: %w", s.db, table, err)
			}
			continue
		}
		if len(landed) > 0 {
			done := filterSpans(rows, func(i int) bool { return landed[buf.coordinates(i)] })
			rows = filterSpans(rows, func(i int) bool { return !landed[buf.coordinates(i)] })
			w.stored(table, done)
			if len(rows) == 0 {
				// The table took every row and the error came after: most likely a
				// materialized view failed, and its target misses this block.
				s.log.Warn("insert failed after every row landed; a materialized view may have missed them",
					"table", table, "rows", spansLen(done), "class", class, "error", err)
				s.failing.Store(nil) // the rows are stored: the ingester makes progress
				return nil
			}
			n = spansLen(rows)
		}
		if class == classData && table == tableEvents {
			if n == 1 {
				i := rows[0].lo
				k := buf.coordinates(i)
				s.log.Warn("ClickHouse refused an event; storing it in quarantine",
					"topic", k.topic, "partition", k.partition, "offset", k.offset, "error", err)
				reason, detail := refusal(err)
				value, key := w.ev.payload.value(i), w.ev.key.value(i)
				if w.ev.parts[i] != nil {
					value, key, detail = w.rawMessage(ctx, k, detail)
				}
				w.q.addRefused(w.ev, i, reason, detail, value, key)
				return nil
			}
			// Split to isolate the rows the server refuses; the halves keep offset order.
			head, tail := splitSpans(rows, n/2)
			if err := w.store(ctx, table, head); err != nil {
				return err
			}
			return w.store(ctx, table, tail)
		}
		s.m.InsertRetries.WithLabelValues(table, string(class)).Inc()
		s.m.RetryCauses.WithLabelValues(table, retryCause(err)).Inc()
		wait := s.backoff(class, attempt)
		s.log.Warn("insert failed; retrying", "table", table, "shard", s.shard, "rows", n, "class", class,
			"cause", retryCause(err), "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "error", err)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("insert into %s.%s: %w", s.db, table, err)
		}
	}
}

// rawMessage reads a refused event's message back from Kafka for its quarantine row. If it
// cannot (the log lost it, Kafka is down past the attempts), the row is stored without it
// and its detail says why: the event's fields are lost, its coordinates and reason are not.
func (w *tableWrite) rawMessage(ctx context.Context, k rowKey, detail string) (value, key []byte, _ string) {
	s := w.sink
	var err error
	if s.reread == nil {
		err = errors.New("no Kafka connection to read it from")
	} else {
		for attempt := 0; attempt < rereadAttempts; attempt++ {
			var msg kafka.Message
			if msg, err = s.reread(ctx, k.topic, k.partition, k.offset); err == nil {
				return msg.Value, msg.Key, detail
			}
			s.m.RereadErrors.Inc()
			if ctx.Err() != nil || sleep(ctx, s.backoff(classRetryable, attempt)) != nil {
				break
			}
		}
	}
	s.log.Error("a refused event's message cannot be read back from Kafka; quarantining it without its payload",
		"topic", k.topic, "partition", k.partition, "offset", k.offset, "error", err)
	return nil, nil, detail + "; the raw message could not be read back from Kafka: " + err.Error()
}

// rereadAttempts bounds the reads of one refused event's message.
const rereadAttempts = 5

// refusal is the quarantine reason and detail of an event ClickHouse or the client refused.
func refusal(err error) (reason, detail string) {
	reason = ReasonServerRejected
	var enc *encodeError
	if errors.As(err, &enc) {
		reason = ReasonClientRejected
	}
	return reason, err.Error()
}

func (w *tableWrite) stored(table string, rows []span) {
	n := spansLen(rows)
	if n == 0 {
		return
	}
	s := w.sink
	s.m.RowsStored.WithLabelValues(table).Add(float64(n))
	s.m.BatchRows.WithLabelValues(table).Observe(float64(n))
	buf := w.table(table)
	bytes := 0
	eachRow(rows, func(i int) { bytes += buf.payloadLen(i) })
	s.m.BatchBytes.WithLabelValues(table).Observe(float64(bytes))
	if table == tableEvents {
		w.res.Events += n
		w.res.events = append(w.res.events, rows...)
	} else {
		w.res.Quarantine += n
		w.res.quarantine = append(w.res.quarantine, rows...)
	}
}

// attempt inserts rows once, less those of partitions given up since the batch was built,
// and returns the rows it sent with the insert id it used. Dropping and sending happen under
// one read lock of attemptMu, so a partition that was given up never has rows sent afterwards.
func (w *tableWrite) attempt(ctx context.Context, table string, rows []span, ids *attemptID) ([]span, uint64, error) {
	w.sink.attemptMu.RLock()
	defer w.sink.attemptMu.RUnlock()
	rows = w.dropAbandoned(w.table(table), rows)
	if len(rows) == 0 {
		return nil, 0, nil
	}
	id := ids.forRows(spansLen(rows))
	return rows, id, w.sink.insert(ctx, table, w.table(table), rows, id, w.at)
}

// dropAbandoned removes rows of partitions given up since the batch was built.
func (w *tableWrite) dropAbandoned(buf tableRows, rows []span) []span {
	gone := func(i int) bool {
		p := buf.partitionOf(i)
		return p != nil && p.abandoned.Load()
	}
	dropped := 0
	eachRow(rows, func(i int) {
		if gone(i) {
			dropped++
		}
	})
	if dropped == 0 {
		return rows
	}
	w.res.Abandoned += dropped
	return filterSpans(rows, func(i int) bool { return !gone(i) })
}

// insert sends rows of buf as one block: one INSERT, columns encoded from the batch's
// column buffers (blockinsert.go), within the insert deadline (clickhouse-go closes the
// connection when it passes).
func (s *Sink) insert(ctx context.Context, table string, buf tableRows, rows []span, id uint64, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	opts := []clickhouse.QueryOption{clickhouse.WithQueryID(insertQueryID(id))}
	settings := clickhouse.Settings{}
	for k, v := range s.settings {
		settings[k] = v
	}
	if s.dedupToken {
		settings["insert_deduplication_token"] = strconv.FormatUint(id, 16)
	}
	if len(settings) > 0 {
		opts = append(opts, clickhouse.WithSettings(settings))
	}
	ctx = clickhouse.Context(ctx, opts...)
	batch, err := s.conn.PrepareBatch(ctx, s.insertSQL[table])
	if err != nil {
		return err
	}
	if err := setBlockColumns(batch, buf.columns(rows, id, at)); err != nil {
		_ = batch.Abort()
		return err
	}
	return batch.Send()
}

// encodeError is clickhouse-go refusing a value on the client side, before anything is
// sent. It is the rows' doing, never the server's: retrying the same rows fails the same way,
// so it is a data error and the batch is split down to the row.
type encodeError struct {
	column string
	err    error
}

func (e *encodeError) Error() string {
	return "clickhouse-go refused column " + e.column + ": " + e.err.Error()
}

func (e *encodeError) Unwrap() error { return e.err }
