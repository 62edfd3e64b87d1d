package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/schema"
)

// Metrics count what scheduled and one-off retention runs did.
type Metrics struct {
	Dropped *prometheus.CounterVec // partitions dropped, by table
	Rows    *prometheus.CounterVec // rows in them, by table
	Runs    *prometheus.CounterVec // runs by result: ok, error
}

// NewMetrics registers faultline_retention_* on reg, every label value at zero.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "faultline", Name: "retention_partitions_dropped_total",
			Help: "Partitions dropped by retention because every row in them was older than the table's retention."}, []string{"table"}),
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "faultline", Name: "retention_rows_dropped_total",
			Help: "Rows in the partitions retention dropped."}, []string{"table"}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "faultline", Name: "retention_runs_total",
			Help: "Retention runs by result (error: a table could not be listed or a partition not dropped)."}, []string{"result"}),
	}
	reg.MustRegister(m.Dropped, m.Rows, m.Runs)
	for _, t := range Tables(Policy{}) {
		m.Dropped.WithLabelValues(t.Name)
		m.Rows.WithLabelValues(t.Name)
	}
	m.Runs.WithLabelValues("ok")
	m.Runs.WithLabelValues("error")
	return m
}

// Observe counts one run's outcome.
func (m *Metrics) Observe(drops []Drop, err error) {
	for _, d := range drops {
		m.Dropped.WithLabelValues(d.Table).Inc()
		m.Rows.WithLabelValues(d.Table).Add(float64(d.Rows))
	}
	if err != nil {
		m.Runs.WithLabelValues("error").Inc()
		return
	}
	m.Runs.WithLabelValues("ok").Inc()
}

// Schedule runs retention at once and then every interval until ctx ends, logging each drop
// and error; a failed run is retried at the next tick, it never stops the ingester.
func Schedule(ctx context.Context, ex schema.Executor, db string, c schema.Cluster, p Policy, interval time.Duration, m *Metrics, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		drops, err := Run(ctx, ex, db, c, p, time.Now(), false)
		if ctx.Err() != nil {
			return
		}
		m.Observe(drops, err)
		for _, d := range drops {
			log.Info("retention dropped a partition", "table", d.Table, "partition", d.Partition, "rows", d.Rows)
		}
		if err != nil {
			log.Error("retention run failed; next try in one interval", "error", err, "interval", interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
