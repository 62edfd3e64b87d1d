package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lagWatcher refreshes the lag gauges of the owned partitions and checks the ledger against
// Kafka's committed offsets. It only reads: the ledger's partitions and Kafka's answers.
type lagWatcher struct {
	admin  *admin
	ledger *ledger
	log    *slog.Logger
	every  time.Duration

	lagMessages, lagSeconds *prometheus.GaugeVec
	breaches                *prometheus.CounterVec
}

func newLagWatcher(a *admin, l *ledger, m *ingestMetrics, log *slog.Logger) *lagWatcher {
	return &lagWatcher{admin: a, ledger: l, log: log, every: 2 * time.Second,
		lagMessages: m.LagMessages, lagSeconds: m.LagSeconds, breaches: m.LedgerBreaches}
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
				w.lagMessages.WithLabelValues(p.topic, p.label).Set(float64(lag))
				secs := 0.0
				if t := p.lastMsgTime.Load(); lag > 0 && t > 0 {
					secs = now.Sub(time.Unix(0, t)).Seconds()
				}
				w.lagSeconds.WithLabelValues(p.topic, p.label).Set(secs)
			}
			if c, ok := committed[k]; ok && p.breach(c) {
				w.breaches.WithLabelValues(p.topic, p.label).Inc()
				w.log.Error("offset ledger breach: committed offset is past unstored messages",
					"topic", p.topic, "partition", p.id, "committed", c, "resolved", p.resolved.Load())
			}
		}
	}
}
