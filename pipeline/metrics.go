package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/metrics"
)

// Each stage defines the metrics it writes, in its own file, with a constructor that
// registers them and exports its known label values at zero: the source (sourceMetrics),
// the batcher (batcherMetrics), the committer (commitMetrics), the ledger (ledgerMetrics),
// the lag watcher (lagMetrics), the in-flight budget (budgetMetrics) and the table writer
// (writerMetrics). New creates them all on the one registry it is given.

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

// The stages' constructors create their metrics through these, so that every name is in
// metrics.Namespace.

func counterVec(f promauto.Factory, name, help string, labels ...string) *prometheus.CounterVec {
	return f.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: name, Help: help}, labels)
}

func gaugeVec(f promauto.Factory, name, help string, labels ...string) *prometheus.GaugeVec {
	return f.NewGaugeVec(prometheus.GaugeOpts{Namespace: metrics.Namespace, Name: name, Help: help}, labels)
}

func counter(f promauto.Factory, name, help string) prometheus.Counter {
	return f.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: name, Help: help})
}

func gauge(f promauto.Factory, name, help string) prometheus.Gauge {
	return f.NewGauge(prometheus.GaugeOpts{Namespace: metrics.Namespace, Name: name, Help: help})
}

// reasons are every quarantine reason: the checks' own and the pipeline's.
func reasons() []string {
	out := []string{ReasonServerRejected, ReasonClientRejected}
	for _, r := range event.AllReasons() {
		out = append(out, string(r))
	}
	return out
}
