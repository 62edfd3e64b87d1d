package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/metrics"
)

// MetricsConfig says which label values the ingester exports before it sees them, and how
// many unknown error types get a label of their own.
type MetricsConfig struct {
	// CatalogTypes are exported at zero in every environment, so that rate() and absent()
	// work from the first scrape.
	CatalogTypes []metrics.CatalogType
	// MaxUnknownErrorTypes (metrics.max_unknown_error_types) bounds the error_type values of
	// types missing from the catalog; the rest share metrics.OtherUnknown.
	MaxUnknownErrorTypes int
}

// Label values the ingester's metrics are exported with at zero.
var (
	eventLabels   = []string{"error_type", "category", "environment", "status_code"}
	flushTriggers = []string{"rows", "bytes", "age", "revoke", "shutdown", "drain"}
	skipReasons   = []string{skipAlreadyStored, skipTransactionMarker}
	kafkaOps      = []string{"fetch", "join", "stored_offsets", "seek", "shard_of", "heartbeat"}
)

// ingestMetrics are the metrics of the source, batcher, committer, ledger and lag watcher;
// the table writer has its own (writerMetrics).
type ingestMetrics struct {
	Events        *prometheus.CounterVec
	Rejected      *prometheus.CounterVec
	Flagged       *prometheus.CounterVec
	Consumed      *prometheus.CounterVec
	Skipped       *prometheus.CounterVec
	OffsetsReused *prometheus.CounterVec
	Expired       *prometheus.CounterVec
	LagMessages   *prometheus.GaugeVec
	LagSeconds    *prometheus.GaugeVec
	Flushes       *prometheus.CounterVec
	EventToStored prometheus.Histogram
	InflightBytes prometheus.Gauge
	InflightLimit prometheus.Gauge
	InflightWait  prometheus.Counter
	Commits       *prometheus.CounterVec
	KafkaErrors   *prometheus.CounterVec
	Abandoned     prometheus.Counter
	LastCommit    *prometheus.GaugeVec
	Assigned      prometheus.Gauge
	Rebalances    prometheus.Counter

	// The offset ledger, per owned partition.
	OffsetConsumed    *prometheus.GaugeVec
	OffsetStored      *prometheus.GaugeVec
	OffsetQuarantined *prometheus.GaugeVec
	OffsetCommitted   *prometheus.GaugeVec
	LedgerBreaches    *prometheus.CounterVec

	Unknown *metrics.UnknownTypes
}

// newMetrics creates the ingester's metrics on reg and exports a zero for every known label
// value: each catalog type in each environment, each reason, flag, trigger, op and result.
func newMetrics(reg prometheus.Registerer, cfg MetricsConfig) *ingestMetrics {
	f := promauto.With(reg)
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: name, Help: help}, labels)
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return f.NewGaugeVec(prometheus.GaugeOpts{Namespace: metrics.Namespace, Name: name, Help: help}, labels)
	}
	counter := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Namespace: metrics.Namespace, Name: name, Help: help})
	}
	m := &ingestMetrics{
		Events: counterVec("events_total",
			"Events stored in ClickHouse, by error type, category, environment and status code.", eventLabels...),
		Rejected: counterVec("rejected_total",
			"Messages stored in quarantine instead of events, by reason.", "reason"),
		Flagged: counterVec("flagged_total",
			"Stored events that carry a flag, by flag (an event may carry several).", "flag"),
		Consumed: counterVec("messages_consumed_total",
			"Messages read from Kafka, by topic.", "topic"),
		Skipped: counterVec("messages_skipped_total",
			"Messages read again after a restart or rebalance and not stored twice, by reason.", "reason"),
		OffsetsReused: counterVec("offsets_reused_total",
			"Messages found at an offset where ClickHouse holds rows of another message (a recreated topic): stored, not skipped.", "topic"),
		Expired: counterVec("messages_expired_total",
			"Messages the partition's log no longer held when the group came to read them (retention, DeleteRecords): never read, never stored.", "topic"),
		LagMessages: gaugeVec("consumer_lag_messages",
			"Messages between the last one read and the end of the partition, for owned partitions.", "topic", "partition"),
		LagSeconds: gaugeVec("consumer_lag_seconds",
			"Age of the last message read while the partition has lag, 0 when caught up; owned partitions only.", "topic", "partition"),
		Flushes: counterVec("flushes_total",
			"Batches flushed, by what triggered the flush.", "trigger"),
		EventToStored: f.NewHistogram(prometheus.HistogramOpts{Namespace: metrics.Namespace, Name: "event_to_stored_seconds",
			Help:    "Time from an event's time to its row being stored.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16)}),
		InflightBytes: gauge("inflight_bytes",
			"Message bytes held between fetch and insert."),
		InflightLimit: gauge("inflight_bytes_limit",
			"The configured bound on inflight bytes (batch.max_inflight_bytes)."),
		InflightWait: counter("inflight_wait_seconds_total",
			"Seconds partitions waited for room under batch.max_inflight_bytes, summed over partitions: time ClickHouse held the ingester back."),
		Commits: counterVec("commits_total",
			"Offset commits to Kafka, by result (ok, error).", "result"),
		KafkaErrors: counterVec("kafka_errors_total",
			"Kafka operations that failed and were retried, by operation (fetch, join, stored_offsets, seek, shard_of, heartbeat).", "op"),
		Abandoned: counter("rows_abandoned_total",
			"Rows not stored because their partition was given up first; the partition's next owner reads them again."),
		LastCommit: gaugeVec("last_commit_timestamp_seconds",
			"Unix time of the last successful offset commit, per owned partition.", "topic", "partition"),
		Assigned: gauge("assigned_partitions",
			"Partitions this ingester owns now."),
		Rebalances: counter("rebalances_total",
			"Consumer group generations this ingester has joined."),
		OffsetConsumed: gaugeVec("offset_consumed",
			"Next offset to read (last offset read + 1), per owned partition.", "topic", "partition"),
		OffsetStored: gaugeVec("offset_stored",
			"Last offset + 1 whose row is stored in events, per owned partition.", "topic", "partition"),
		OffsetQuarantined: gaugeVec("offset_quarantined",
			"Last offset + 1 whose row is stored in quarantine, per owned partition.", "topic", "partition"),
		OffsetCommitted: gaugeVec("offset_committed",
			"Offset committed to Kafka (next to read), per owned partition.", "topic", "partition"),
		LedgerBreaches: counterVec("ledger_breaches_total",
			"Times a committed offset was found past an offset that is neither stored nor quarantined.", "topic", "partition"),
	}
	m.Unknown = metrics.NewUnknownTypes(cfg.MaxUnknownErrorTypes, func(name string) {
		m.Events.DeletePartialMatch(prometheus.Labels{"error_type": name})
	})

	for _, t := range cfg.CatalogTypes {
		for _, env := range metrics.Environments {
			m.Events.WithLabelValues(t.ErrorType, t.Category, env, t.StatusCode)
		}
	}
	for _, r := range reasons() {
		m.Rejected.WithLabelValues(r)
	}
	for _, fl := range event.AllFlags() {
		m.Flagged.WithLabelValues(fl.String())
	}
	for _, tr := range flushTriggers {
		m.Flushes.WithLabelValues(tr)
	}
	for _, r := range []string{"ok", "error"} {
		m.Commits.WithLabelValues(r)
	}
	for _, r := range skipReasons {
		m.Skipped.WithLabelValues(r)
	}
	for _, op := range kafkaOps {
		m.KafkaErrors.WithLabelValues(op)
	}
	return m
}

// reasons are every quarantine reason: the checks' own and the pipeline's.
func reasons() []string {
	out := []string{ReasonServerRejected, ReasonClientRejected}
	for _, r := range event.AllReasons() {
		out = append(out, string(r))
	}
	return out
}
