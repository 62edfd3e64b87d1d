package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// lagMetrics are the lag watcher's: what it learns comparing the ledger with Kafka. The
// ledger deletes a partition's lag series when it gives the partition up (see newLedger).
type lagMetrics struct {
	LagMessages    *prometheus.GaugeVec
	LagSeconds     *prometheus.GaugeVec
	LedgerBreaches *prometheus.CounterVec
}

// newLagMetrics creates the lag watcher's metrics on reg. There are no label values to
// export at zero: a partition gets its series once the watcher finds it owned.
func newLagMetrics(reg prometheus.Registerer) *lagMetrics {
	f := promauto.With(reg)
	return &lagMetrics{
		LagMessages: gaugeVec(f, "consumer_lag_messages",
			"Messages between the last one read and the end of the partition, for owned partitions.", "topic", "partition"),
		LagSeconds: gaugeVec(f, "consumer_lag_seconds",
			"Age of the last message read while the partition has lag, 0 when caught up; owned partitions only.", "topic", "partition"),
		LedgerBreaches: counterVec(f, "ledger_breaches_total",
			"Times a committed offset was found past an offset that is neither stored nor quarantined.", "topic", "partition"),
	}
}

// lagWatcher refreshes the lag gauges of the owned partitions and checks the ledger against
// Kafka's committed offsets. It only reads: the ledger's partitions and Kafka's answers.
type lagWatcher struct {
	admin  *admin
	ledger *ledger
	log    *slog.Logger
	every  time.Duration
	m      *lagMetrics
}

func newLagWatcher(a *admin, l *ledger, m *lagMetrics, log *slog.Logger) *lagWatcher {
	return &lagWatcher{admin: a, ledger: l, log: log, every: 2 * time.Second, m: m}
}

// run watches until ctx ends.
func (w *lagWatcher) run(ctx context.Context) {
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		owned := w.ledger.snapshot()
		if len(owned) == 0 {
			continue
		}
		ends, err := w.admin.listEnds(ctx, owned)
		if err != nil {
			w.log.Debug("lag: list offsets failed", "error", err)
		}
		committed, err := w.admin.groupCommitted(ctx, owned)
		if err != nil {
			w.log.Debug("ledger: offset fetch failed", "error", err)
		}
		now := time.Now()
		for _, p := range owned {
			k := tp{p.topic, int(p.id)}
			if end, ok := ends[k]; ok {
				lag := max(end-p.consumed.Load(), 0)
				w.m.LagMessages.WithLabelValues(p.topic, p.label).Set(float64(lag))
				secs := 0.0
				if t := p.lastMsgTime.Load(); lag > 0 && t > 0 {
					secs = now.Sub(time.Unix(0, t)).Seconds()
				}
				w.m.LagSeconds.WithLabelValues(p.topic, p.label).Set(secs)
			}
			if c, ok := committed[k]; ok && p.breach(c) {
				w.m.LedgerBreaches.WithLabelValues(p.topic, p.label).Inc()
				w.log.Error("offset ledger breach: committed offset is past unstored messages",
					"topic", p.topic, "partition", p.id, "committed", c, "resolved", p.resolved.Load())
			}
		}
	}
}
