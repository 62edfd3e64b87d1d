package pipeline

import (
	"context"
	"time"
)

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
			if it.flush != nil {
				waiters = append(waiters, it.flush.done)
				seal(it.flush.trigger)
				continue
			}
			r := it.row
			if first.IsZero() {
				first = time.Now()
			}
			in.statsMu.Lock()
			in.stats.Consumed++
			switch r.skipReason {
			case skipAlreadyStored:
				in.stats.Skipped++
			case skipTransactionMarker:
				in.stats.Markers++
			}
			in.statsMu.Unlock()
			if r.skipped {
				in.m.Skipped.WithLabelValues(r.skipReason).Inc()
			} else {
				cur.Append(r)
			}
			next[r.part] = r.Offset + 1
			bytes += r.charged
			switch {
			case cur.Len() >= in.cfg.Batch.MaxRows:
				seal("rows")
			case cur.Bytes() >= in.cfg.Batch.MaxBytes:
				seal("bytes")
			}
		case <-tick.C:
			if !first.IsZero() && time.Since(first) >= in.cfg.Batch.MaxAge {
				seal("age")
			}
		}
	}
}
