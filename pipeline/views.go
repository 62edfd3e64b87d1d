package pipeline

import (
	"context"
	"fmt"
	"time"
)

// A Replicated insert can fail after its parts were committed in ZooKeeper (18.16 answers
// "Coordination::Exception: Connection loss" and the block is in the table): the views of
// the table (stored_offsets, the per-minute rollup) were then never fed, and sending the
// block again does not feed them either, because 18.16 does not push a deduplicated block
// to views. repairViews writes what the views would have written for a block whose rows
// all landed, when they did not: stored_offsets, which the skip read relies on, and the
// rollup. Views run in name order (events_offsets_mv before events_per_minute_mv), so a
// block missing from stored_offsets is missing from the rollup too.
func (w *tableWrite) repairViews(ctx context.Context, table string, rows []*Row, id uint64) error {
	s := w.sink
	var missing bool
	if err := s.retryRead(ctx, table, func(ctx context.Context) (err error) {
		missing, err = s.viewsMissed(ctx, rows, w.at)
		return err
	}); err != nil || !missing {
		return err
	}
	// Each step sends the same block on every attempt, so a repeat after a lost reply is
	// deduplicated by the Replicated table.
	if err := s.retryRead(ctx, table, func(ctx context.Context) error { return s.writeStoredOffsets(ctx, rows, w.at) }); err != nil {
		return err
	}
	if table == tableEvents && s.rollupTable != "" {
		if err := s.retryRead(ctx, table, func(ctx context.Context) error { return s.writeRollup(ctx, id, w.at) }); err != nil {
			return err
		}
	}
	s.m.ViewsRepaired.WithLabelValues(table).Inc()
	s.log.Warn("a block landed without its views (the insert failed after the commit); wrote stored_offsets and the rollup for it",
		"table", table, "shard", s.shard, "rows", len(rows))
	return nil
}

// retryRead runs f under the insert timeout until it succeeds or ctx ends, counting retries.
func (s *Sink) retryRead(ctx context.Context, table string, f func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.timeout)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("repair views of %s.%s: %w", s.db, table, ctx.Err())
		}
		class := classify(err)
		s.m.InsertRetries.WithLabelValues(table, string(class)).Inc()
		s.m.RetryCauses.WithLabelValues(table, retryCause(err)).Inc()
		wait := s.backoff(class, attempt)
		s.log.Warn("cannot repair the views of a block; retrying", "table", table, "shard", s.shard, "retry_in", wait.Round(time.Millisecond), "error", err)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("repair views of %s.%s: %w", s.db, table, err)
		}
	}
}

// viewsMissed reports whether stored_offsets has none of the block's rows.
func (s *Sink) viewsMissed(ctx context.Context, rows []*Row, at time.Time) (bool, error) {
	type span struct{ lo, hi int64 }
	spans := map[tp]*span{}
	for _, r := range rows {
		k := tp{r.Topic, int(r.Partition)}
		if sp, ok := spans[k]; ok {
			sp.lo, sp.hi = min(sp.lo, r.Offset), max(sp.hi, r.Offset)
		} else {
			spans[k] = &span{r.Offset, r.Offset}
		}
	}
	for k, sp := range spans {
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM `"+s.db+"`."+s.readTable[tableStoredOffsets]+
			" WHERE kafka_topic = ? AND kafka_partition = ? AND kafka_offset >= ? AND kafka_offset <= ? AND stored_at = ?",
			k.topic, uint32(k.partition), uint64(sp.lo), uint64(sp.hi), at).Scan(&n); err != nil {
			return false, err
		}
		if n > 0 {
			// The views ran (or some did): nothing here tells which, so nothing is written.
			return false, nil
		}
	}
	return true, nil
}

// writeStoredOffsets writes what the offsets views would have for the block.
func (s *Sink) writeStoredOffsets(ctx context.Context, rows []*Row, at time.Time) error {
	so, err := s.conn.PrepareBatch(ctx, "INSERT INTO `"+s.db+"`."+s.readTable[tableStoredOffsets]+
		" (kafka_topic, kafka_partition, kafka_offset, fingerprint, stored_at)")
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := so.Append(r.Topic, uint32(r.Partition), uint64(r.Offset), r.fingerprint, at); err != nil {
			_ = so.Abort()
			return err
		}
	}
	return so.Send()
}

// writeRollup writes the block's per-minute rollup, read back from the block's own rows with
// the view's SELECT (schema/migrations 0004), in a fixed order.
func (s *Sink) writeRollup(ctx context.Context, id uint64, at time.Time) error {
	agg, err := s.conn.Query(ctx, "SELECT toStartOfMinute(event_time) AS minute, error_type, category, environment, status_code, known, toUInt64(count()) AS events FROM `"+
		s.db+"`."+s.readTable[tableEvents]+" WHERE insert_id = ? AND ingested_at = ? GROUP BY minute, error_type, category, environment, status_code, known ORDER BY minute, error_type, category, environment, status_code, known",
		id, at)
	if err != nil {
		return err
	}
	defer agg.Close()
	ins, err := s.conn.PrepareBatch(ctx, "INSERT INTO `"+s.db+"`."+s.rollupTable+
		" (minute, error_type, category, environment, status_code, known, events)")
	if err != nil {
		return err
	}
	for agg.Next() {
		var (
			minute                   time.Time
			errorType, category, env string
			status                   uint16
			known                    uint8
			events                   uint64
		)
		if err := agg.Scan(&minute, &errorType, &category, &env, &status, &known, &events); err != nil {
			_ = ins.Abort()
			return err
		}
		if err := ins.Append(minute, errorType, category, env, status, known, events); err != nil {
			_ = ins.Abort()
			return err
		}
	}
	if err := agg.Err(); err != nil {
		_ = ins.Abort()
		return err
	}
	return ins.Send()
}
