// Package metrics defines every Prometheus metric the ingester exports. Metrics are created
// on a registry passed in, never on a global one, so tests and several pipelines in one
// process stay apart.
//
// Label values always come from bounded sets: error types from the catalog (unknown ones
// through UnknownTypes), reasons, flags, classes and triggers from constants, partitions from
// the topics' own partition counts. Request ids, messages and URLs are never labels.
package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/internal/buildinfo"
)

// Namespace prefixes every metric name.
const Namespace = "faultline"

// OtherUnknown is the error_type label shared by unknown error types past the first
// metrics.max_unknown_error_types distinct names.
const OtherUnknown = "_other_unknown"

// Environments are the values of the environment label.
var Environments = []string{"live", "test", "unknown"}

// KafkaOps are the values of the op label of Kafka errors.
var KafkaOps = []string{"fetch", "join", "stored_offsets", "seek", "shard_of"}

// RetryCauses are the values of the cause label of insert retries (pipeline's retryCause
// names them): what the server or the network said, in a bounded set.
var RetryCauses = []string{"connection", "timeout", "replica_readonly", "zookeeper", "shard_unavailable", "too_many_parts", "memory", "other"}

// Tables are the values of the table label.
var Tables = []string{"events", "quarantine"}

// ErrorClasses are the values of the class label of insert errors.
var ErrorClasses = []string{"retryable", "data", "fatal"}

// FlushTriggers are the values of the trigger label of flushes.
var FlushTriggers = []string{"rows", "bytes", "age", "revoke", "shutdown", "drain"}

// Ingest holds the ingester's metrics.
type Ingest struct {
	Events         *prometheus.CounterVec
	Rejected       *prometheus.CounterVec
	Flagged        *prometheus.CounterVec
	Consumed       *prometheus.CounterVec
	Skipped        *prometheus.CounterVec
	OffsetsReused  *prometheus.CounterVec
	LagMessages    *prometheus.GaugeVec
	LagSeconds     *prometheus.GaugeVec
	BatchRows      *prometheus.HistogramVec
	BatchBytes     *prometheus.HistogramVec
	Flushes        *prometheus.CounterVec
	InsertDuration *prometheus.HistogramVec
	InsertErrors   *prometheus.CounterVec
	InsertRetries  *prometheus.CounterVec
	RetryCauses    *prometheus.CounterVec
	ViewsRepaired  *prometheus.CounterVec
	RowsStored     *prometheus.CounterVec
	EventToStored  prometheus.Histogram
	InflightBytes  prometheus.Gauge
	InflightLimit  prometheus.Gauge
	Commits        *prometheus.CounterVec
	KafkaErrors    *prometheus.CounterVec
	Abandoned      prometheus.Counter
	LastCommit     *prometheus.GaugeVec
	Assigned       prometheus.Gauge
	Rebalances     prometheus.Counter
	CatalogInfo    *prometheus.GaugeVec
	BuildInfo      *prometheus.GaugeVec

	// The offset ledger, per owned partition.
	OffsetConsumed    *prometheus.GaugeVec
	OffsetStored      *prometheus.GaugeVec
	OffsetQuarantined *prometheus.GaugeVec
	OffsetCommitted   *prometheus.GaugeVec
	LedgerBreaches    *prometheus.CounterVec

	Unknown *UnknownTypes
}

// CatalogType is what the metrics need to know of one catalog entry to export it at zero.
type CatalogType struct {
	ErrorType  string
	Category   string
	StatusCode string
}

// SkipReasons are why a message read is not stored (pipeline.SkipReasons names them too).
var SkipReasons = []string{"already_stored", "transaction_marker"}

// Labels of the per-error-type counter, in order.
var EventLabels = []string{"error_type", "category", "environment", "status_code"}

// NewIngest creates the ingester's metrics on reg and exports a zero for every known label
// value: each catalog type in each environment, each reason, flag, class and trigger.
func NewIngest(reg prometheus.Registerer, types []CatalogType, reasons, flags []string, catalogVersion string, maxUnknown int) *Ingest {
	f := factory{reg}
	m := &Ingest{
		Events: f.counterVec("events_total",
			"Events stored in ClickHouse, by error type, category, environment and status code.", EventLabels...),
		Rejected: f.counterVec("rejected_total",
			"Messages stored in quarantine instead of events, by reason.", "reason"),
		Flagged: f.counterVec("flagged_total",
			"Stored events that carry a flag, by flag (an event may carry several).", "flag"),
		Consumed: f.counterVec("messages_consumed_total",
			"Messages read from Kafka, by topic.", "topic"),
		Skipped: f.counterVec("messages_skipped_total",
			"Messages read again after a restart or rebalance and not stored twice, by reason.", "reason"),
		OffsetsReused: f.counterVec("offsets_reused_total",
			"Messages found at an offset where ClickHouse holds rows of another message (a recreated topic): stored, not skipped.", "topic"),
		LagMessages: f.gaugeVec("consumer_lag_messages",
			"Messages between the last one read and the end of the partition, for owned partitions.", "topic", "partition"),
		LagSeconds: f.gaugeVec("consumer_lag_seconds",
			"Age of the last message read while the partition has lag, 0 when caught up; owned partitions only.", "topic", "partition"),
		BatchRows: f.histogramVec("batch_rows", "Rows per insert, by table.",
			prometheus.ExponentialBuckets(1, 4, 10), "table"),
		BatchBytes: f.histogramVec("batch_bytes", "Message bytes per insert, by table.",
			prometheus.ExponentialBuckets(1024, 4, 10), "table"),
		Flushes: f.counterVec("flushes_total",
			"Batches flushed, by what triggered the flush.", "trigger"),
		InsertDuration: f.histogramVec("insert_duration_seconds", "Duration of successful inserts, by table.",
			prometheus.ExponentialBuckets(0.001, 2.5, 12), "table"),
		InsertErrors: f.counterVec("insert_errors_total",
			"Failed insert attempts, by table and class (retryable, data, fatal).", "table", "class"),
		InsertRetries: f.counterVec("insert_retries_total",
			"Insert attempts repeated after an error, by table and class.", "table", "class"),
		RetryCauses: f.counterVec("insert_retry_causes_total",
			"Insert attempts repeated after a retryable error, by table and cause (connection, timeout, replica_readonly, zookeeper, shard_unavailable, too_many_parts, memory, other).", "table", "cause"),
		ViewsRepaired: f.counterVec("views_repaired_total",
			"Blocks that landed in a Replicated table while the insert failed, whose views (stored_offsets, the rollup) the ingester wrote itself, by table.", "table"),
		RowsStored: f.counterVec("rows_stored_total",
			"Rows written to ClickHouse, by table.", "table"),
		EventToStored: f.histogram("event_to_stored_seconds",
			"Time from an event's time to its row being stored.",
			prometheus.ExponentialBuckets(0.05, 2, 16)),
		InflightBytes: f.gauge("inflight_bytes",
			"Message bytes held between fetch and insert."),
		InflightLimit: f.gauge("inflight_bytes_limit",
			"The configured bound on inflight bytes (batch.max_inflight_bytes)."),
		Commits: f.counterVec("commits_total",
			"Offset commits to Kafka, by result (ok, error).", "result"),
		KafkaErrors: f.counterVec("kafka_errors_total",
			"Kafka operations that failed and were retried, by operation (fetch, join, stored_offsets, seek, shard_of).", "op"),
		Abandoned: f.counter("rows_abandoned_total",
			"Rows not stored because their partition was given up first; the partition's next owner reads them again."),
		LastCommit: f.gaugeVec("last_commit_timestamp_seconds",
			"Unix time of the last successful offset commit, per owned partition.", "topic", "partition"),
		Assigned: f.gauge("assigned_partitions",
			"Partitions this ingester owns now."),
		Rebalances: f.counter("rebalances_total",
			"Consumer group generations this ingester has joined."),
		CatalogInfo: f.gaugeVec("catalog_info",
			"The catalog in use: 1 with its version and size.", "version", "entries"),
		BuildInfo: f.gaugeVec("build_info",
			"The running build: 1 with its version, commit, build date and Go version.", "version", "revision", "build_date", "goversion"),
		OffsetConsumed: f.gaugeVec("offset_consumed",
			"Next offset to read (last offset read + 1), per owned partition.", "topic", "partition"),
		OffsetStored: f.gaugeVec("offset_stored",
			"Last offset + 1 whose row is stored in events, per owned partition.", "topic", "partition"),
		OffsetQuarantined: f.gaugeVec("offset_quarantined",
			"Last offset + 1 whose row is stored in quarantine, per owned partition.", "topic", "partition"),
		OffsetCommitted: f.gaugeVec("offset_committed",
			"Offset committed to Kafka (next to read), per owned partition.", "topic", "partition"),
		LedgerBreaches: f.counterVec("ledger_breaches_total",
			"Times a committed offset was found past an offset that is neither stored nor quarantined.", "topic", "partition"),
	}
	m.Unknown = newUnknownTypes(maxUnknown, func(name string) {
		m.Events.DeletePartialMatch(prometheus.Labels{"error_type": name})
	})

	for _, t := range types {
		for _, env := range Environments {
			m.Events.WithLabelValues(t.ErrorType, t.Category, env, t.StatusCode)
		}
	}
	for _, r := range reasons {
		m.Rejected.WithLabelValues(r)
	}
	for _, fl := range flags {
		m.Flagged.WithLabelValues(fl)
	}
	for _, tbl := range Tables {
		m.RowsStored.WithLabelValues(tbl)
		m.ViewsRepaired.WithLabelValues(tbl)
		for _, c := range ErrorClasses {
			m.InsertErrors.WithLabelValues(tbl, c)
			m.InsertRetries.WithLabelValues(tbl, c)
		}
		for _, c := range RetryCauses {
			m.RetryCauses.WithLabelValues(tbl, c)
		}
	}
	for _, tr := range FlushTriggers {
		m.Flushes.WithLabelValues(tr)
	}
	for _, r := range []string{"ok", "error"} {
		m.Commits.WithLabelValues(r)
	}
	for _, r := range SkipReasons {
		m.Skipped.WithLabelValues(r)
	}
	for _, op := range KafkaOps {
		m.KafkaErrors.WithLabelValues(op)
	}
	m.CatalogInfo.WithLabelValues(catalogVersion, strconv.Itoa(len(types))).Set(1)
	bi := buildinfo.Get()
	m.BuildInfo.WithLabelValues(bi.Version, bi.Revision, bi.BuildDate, bi.GoVersion).Set(1)
	return m
}

// UnknownIdle is how long an unknown error type keeps its label slot without being seen.
// A full set of slots gives the slot of the longest-idle name past it to a new name, and
// that name's series are deleted, so a flood of junk names cannot lock real new types out.
const UnknownIdle = time.Hour

// UnknownTypes bounds the error_type label for types missing from the catalog: at most max
// names hold their own label value at once, every other one shares OtherUnknown.
type UnknownTypes struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time // name -> last seen
	evict func(name string)    // drops the series of a name whose slot is reclaimed
}

func newUnknownTypes(max int, evict func(string)) *UnknownTypes {
	return &UnknownTypes{max: max, seen: make(map[string]time.Time), evict: evict}
}

// Label returns the label value to use for the unknown error type name, seen at now.
func (u *UnknownTypes) Label(name string, now time.Time) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.seen[name]; ok {
		u.seen[name] = now
		return name
	}
	if len(u.seen) >= u.max {
		oldest, at := "", now
		for n, t := range u.seen {
			if t.Before(at) {
				oldest, at = n, t
			}
		}
		if oldest == "" || now.Sub(at) < UnknownIdle {
			return OtherUnknown
		}
		delete(u.seen, oldest)
		if u.evict != nil {
			u.evict(oldest)
		}
	}
	u.seen[name] = now
	return name
}

// StatusLabel is the status_code label value of an event: the code itself when it is the
// catalog type's own code, else its class ("4xx"). Per error type and environment that is at
// most 1 + 5 values (catalog types) or 5 (unknown types), whatever codes arrive.
func StatusLabel(code uint16, catalogCode bool) string {
	if catalogCode {
		return strconv.Itoa(int(code))
	}
	return strconv.Itoa(int(code)/100) + "xx"
}

// StatusClasses are the classes StatusLabel can return for codes 100..599.
var StatusClasses = []string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// MaxEventSeries bounds the series of faultline_events_total:
// environments x (catalog types x (1 + status classes) + (max unknown + 1) x status classes).
func MaxEventSeries(catalogTypes, maxUnknown int) int {
	return len(Environments) * (catalogTypes*(1+len(StatusClasses)) + (maxUnknown+1)*len(StatusClasses))
}

type factory struct{ reg prometheus.Registerer }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}
