package pipeline

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// batcherMetrics are the batcher's. The source marks the rows it skips (skipReasons) but
// hands them on like the rest, so that their offsets are committed in order; the batcher
// counts them where it leaves them out of the batch.
type batcherMetrics struct {
	Skipped *prometheus.CounterVec
}

// newBatcherMetrics creates the batcher's metrics on reg, each skip reason at zero.
func newBatcherMetrics(reg prometheus.Registerer) *batcherMetrics {
	m := &batcherMetrics{
		Skipped: counterVec(promauto.With(reg), "messages_skipped_total",
			"Messages read again after a restart or rebalance and not stored twice, by reason.", "reason"),
	}
	for _, r := range skipReasons {
		m.Skipped.WithLabelValues(r)
	}
	return m
}

// pending is a sealed batch on its way to the sink.
type pending struct {
	lane    *lane
	batch   *Batch
	next    map[*partition]int64 // offset to commit per partition once stored
	bytes   int                  // budget to release, skipped rows included
	trigger string
	waiters []chan error
}

// batchLoop gathers a lane's rows into batches and seals them on rows, bytes, age or request.
func (in *Ingester) batchLoop(ctx context.Context, l *lane) {
	var (
		cur     = l.sink.Begin()
		next    = map[*partition]int64{}
		bytes   int
		first   time.Time
		waiters []chan error
		counts  readCounts
		// giveBack is budget the rows appended since the last release charged beyond
		// what they hold in the batch.
		giveBack int
	)
	seal := func(trigger string) {
		if cur.Len() == 0 && len(next) == 0 && len(waiters) == 0 {
			return
		}
		p := &pending{lane: l, batch: cur, next: next, bytes: bytes, trigger: trigger, waiters: waiters}
		select {
		case l.batches <- p:
		case <-ctx.Done():
			// Shutting down past its timeout: answer the waiters once, here, and forget the
			// batch (its rows were not stored and are read again).
			for _, w := range waiters {
				w <- ctx.Err()
			}
			l.budget.release(bytes)
		}
		cur, next, bytes, first, waiters = l.sink.Begin(), map[*partition]int64{}, 0, time.Time{}, nil
	}
	// take handles one item. The loop below takes what is queued without a select per item.
	take := func(it item) {
		if it.flush != nil {
			waiters = append(waiters, it.flush.done)
			seal(it.flush.trigger)
			return
		}
		r := it.row
		if first.IsZero() {
			first = time.Now()
		}
		counts.consumed++
		switch r.skipReason {
		case skipAlreadyStored:
			counts.skipped++
		case skipTransactionMarker:
			counts.markers++
		}
		if r.skipped {
			in.batcherM.Skipped.WithLabelValues(r.skipReason).Inc()
		} else {
			if held := cur.Append(r); r.charged > held {
				// The row was charged for its message and decoded event, which are gone
				// now: its columns hold less until the batch is stored.
				giveBack += r.charged - held
				r.charged = held
			}
		}
		next[r.part] = r.Offset + 1
		bytes += r.charged
		in.rows.put(r) // its fields are in the batch's columns now
		if counts.consumed >= 4096 || len(l.items) == 0 {
			// Into the run summary and the budget once the backlog is handed over, not
			// per row.
			in.addReadCounts(&counts)
			if giveBack > 0 {
				l.budget.release(giveBack)
				giveBack = 0
			}
		}
		switch {
		case cur.Len() >= in.cfg.Batch.MaxRows:
			seal("rows")
		case cur.Bytes() >= in.cfg.Batch.MaxBytes:
			seal("bytes")
		}
	}
	tick := time.NewTicker(max(in.cfg.Batch.MaxAge/4, 5*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			l.budget.release(bytes)
			for _, w := range waiters {
				w <- ctx.Err()
			}
			return
		case it := <-l.items:
			take(it)
			for n := 0; n < 1024 && len(l.items) > 0; n++ {
				take(<-l.items) // only this goroutine receives: never blocks
			}
		case <-tick.C:
			if !first.IsZero() && time.Since(first) >= in.cfg.Batch.MaxAge {
				seal("age")
			}
		}
	}
}

// readCounts are rows the batcher took since it last added them to the run summary.
type readCounts struct{ consumed, skipped, markers int64 }

// addReadCounts adds c to the run summary and zeroes it.
func (in *Ingester) addReadCounts(c *readCounts) {
	in.statsMu.Lock()
	in.stats.Consumed += c.consumed
	in.stats.Skipped += c.skipped
	in.stats.Markers += c.markers
	in.statsMu.Unlock()
	*c = readCounts{}
}
