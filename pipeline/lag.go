package pipeline

import (
	"context"
	"time"
)

// watchLoop refreshes lag and checks the ledger against Kafka's committed offsets.
func (in *Ingester) watchLoop(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		owned := in.ledger.snapshot()
		if len(owned) == 0 {
			continue
		}
		ends, err := in.listEnds(ctx, owned)
		if err != nil {
			in.log.Debug("lag: list offsets failed", "error", err)
		}
		committed, err := in.groupCommitted(ctx, owned)
		if err != nil {
			in.log.Debug("ledger: offset fetch failed", "error", err)
		}
		now := time.Now()
		for _, p := range owned {
			k := tp{p.topic, int(p.id)}
			if end, ok := ends[k]; ok {
				lag := max(end-p.consumed.Load(), 0)
				in.m.LagMessages.WithLabelValues(p.topic, p.label).Set(float64(lag))
				secs := 0.0
				if t := p.lastMsgTime.Load(); lag > 0 && t > 0 {
					secs = now.Sub(time.Unix(0, t)).Seconds()
				}
				in.m.LagSeconds.WithLabelValues(p.topic, p.label).Set(secs)
			}
			if c, ok := committed[k]; ok && p.breach(c) {
				in.m.LedgerBreaches.WithLabelValues(p.topic, p.label).Inc()
				in.log.Error("offset ledger breach: committed offset is past unstored messages",
					"topic", p.topic, "partition", p.id, "committed", c, "resolved", p.resolved.Load())
			}
		}
	}
}
