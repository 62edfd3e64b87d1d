package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A Replicated insert can fail after its parts were committed in ZooKeeper (18.16 answers
// "Coordination::Exception: Connection loss" and the block is in the table): the views of
// the table (stored_offsets, the per-minute rollup) were then never fed, and sending the
// block again does not feed them either, because 18.16 does not push a deduplicated block
// to views. repairViews writes what the views would have written for a block whose rows
// all landed, when they did not: stored_offsets, which the skip read relies on, and the
// rollup. Views run in name order (events_offsets_mv before events_per_minute_mv), so a
// block missing from stored_offsets is missing from the rollup too. conn reaches a replica
// that has synced the tables it reads (syncedReplica).
func (w *tableWrite) repairViews(ctx context.Context, conn driver.Conn, table string, rows []span, id uint64) error {
	s := w.sink
	buf := w.table(table)
	var missing bool
	if err := s.retryRead(ctx, table, "check stored_offsets", func(ctx context.Context) (err error) {
		missing, err = s.viewsMissed(ctx, conn, buf, rows, w.at)
		return err
	}); err != nil {
		return err
	}
	if !missing {
		// stored_offsets has the block; the rollup's view runs after it and may still
		// have failed.
		if table != tableEvents || s.rollupTable == "" {
			return nil
		}
		var short bool
		// The check watches a shortfall for rollupSettle: its attempts get that beyond
		// the timeout of their reads, or every one of them would time out.
		if err := s.retryReadFor(ctx, table, "check the rollup", s.timeout+rollupSettle, func(ctx context.Context) (err error) {
			short, err = s.rollupShort(ctx, conn, id, w.at)
			return err
		}); err != nil || !short {
			return err
		}
		if err := s.retryRead(ctx, table, "write the rollup", func(ctx context.Context) error { return s.writeRollup(ctx, conn, id, w.at) }); err != nil {
			return err
		}
		s.m.ViewsRepaired.WithLabelValues(table).Inc()
		s.log.Warn("a block landed without its rollup (the insert failed after the commit); wrote the rollup rows for it",
			"table", table, "shard", s.shard, "rows", spansLen(rows))
		return nil
	}
	// Each step sends the same block on every attempt, so a repeat after a lost reply is
	// deduplicated by the Replicated table.
	if err := s.retryRead(ctx, table, "write stored_offsets", func(ctx context.Context) error { return s.writeStoredOffsets(ctx, conn, buf, rows, w.at) }); err != nil {
		return err
	}
	if table == tableEvents && s.rollupTable != "" {
		if err := s.retryRead(ctx, table, "write the rollup", func(ctx context.Context) error { return s.writeRollup(ctx, conn, id, w.at) }); err != nil {
			return err
		}
	}
	s.m.ViewsRepaired.WithLabelValues(table).Inc()
	s.log.Warn("a block landed without its views (the insert failed after the commit); wrote stored_offsets and the rollup for it",
		"table", table, "shard", s.shard, "rows", spansLen(rows))
	return nil
}

// retryRead runs f, the step of a view check named step, under the insert timeout until it
// succeeds or ctx ends, counting retries.
func (s *Sink) retryRead(ctx context.Context, table, step string, f func(context.Context) error) error {
	return s.retryReadFor(ctx, table, step, s.timeout, f)
}

// retryReadFor is retryRead with each attempt bounded by budget.
func (s *Sink) retryReadFor(ctx context.Context, table, step string, budget time.Duration, f func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, budget)
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
		s.log.Warn("cannot repair the views of a block; retrying", "table", table, "shard", s.shard, "step", step, "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "error", err)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("repair views of %s.%s: %w", s.db, table, err)
		}
	}
}

// viewsMissed reports whether stored_offsets has none of the block's rows.
func (s *Sink) viewsMissed(ctx context.Context, conn driver.Conn, buf tableRows, rows []span, at time.Time) (bool, error) {
	type offsets struct{ lo, hi int64 }
	spans := map[tp]*offsets{}
	eachRow(rows, func(i int) {
		r := buf.coordinates(i)
		k := tp{r.topic, int(r.partition)}
		if sp, ok := spans[k]; ok {
			sp.lo, sp.hi = min(sp.lo, r.offset), max(sp.hi, r.offset)
		} else {
			spans[k] = &offsets{r.offset, r.offset}
		}
	})
	for k, sp := range spans {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM `"+s.db+"`."+s.readTable[tableStoredOffsets]+
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
func (s *Sink) writeStoredOffsets(ctx context.Context, conn driver.Conn, buf tableRows, rows []span, at time.Time) error {
	so, err := conn.PrepareBatch(ctx, "INSERT INTO `"+s.db+"`."+s.readTable[tableStoredOffsets]+
		" (kafka_topic, kafka_partition, kafka_offset, fingerprint, stored_at)")
	if err != nil {
		return err
	}
	for _, sp := range rows {
		for i := sp.lo; i < sp.hi; i++ {
			r := buf.coordinates(i)
			if err := so.Append(r.topic, uint32(r.partition), uint64(r.offset), buf.fingerprintOf(i), at); err != nil {
				_ = so.Abort()
				return err
			}
		}
	}
	return so.Send()
}

// writeRollup writes the block's per-minute rollup, read back from the block's own rows with
// the view's SELECT (schema/migrations 0004), in a fixed order.
func (s *Sink) writeRollup(ctx context.Context, conn driver.Conn, id uint64, at time.Time) error {
	agg, err := conn.Query(ctx, "SELECT toStartOfMinute(event_time) AS minute, error_type, category, environment, status_code, known, toUInt64(count()) AS events FROM `"+
		s.db+"`."+s.readTable[tableEvents]+" WHERE insert_id = ? AND ingested_at = ? GROUP BY minute, error_type, category, environment, status_code, known ORDER BY minute, error_type, category, environment, status_code, known",
		id, at)
	if err != nil {
		return err
	}
	defer agg.Close()
	ins, err := conn.PrepareBatch(ctx, "INSERT INTO `"+s.db+"`."+s.rollupTable+
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

// rollupShort reports whether the rollup lacks the block with insert id: in every group
// (minute, error type, category, environment, status, known) of the block, the rollup holds
// fewer events than the shard's events table by at least the block's own count. Other
// blocks move the counts for a moment either way: an insert between its table and its view
// makes a group short, and on a replica that fetches, another block's rollup part may come
// before its events part and make a group look covered. So the counts are looked at for up
// to rollupSettle and the answer is what they say at its end; only a shortfall of exactly
// the block's counts in every group settles it sooner.
func (s *Sink) rollupShort(ctx context.Context, conn driver.Conn, id uint64, at time.Time) (bool, error) {
	type group struct {
		minute                   time.Time
		errorType, category, env string
		status                   uint16
		known                    uint8
	}
	const dims = "error_type, category, environment, status_code, known"
	read := func(q string, args ...any) (map[group]uint64, error) {
		rows, err := conn.Query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[group]uint64{}
		for rows.Next() {
			var g group
			var n uint64
			if err := rows.Scan(&g.minute, &g.errorType, &g.category, &g.env, &g.status, &g.known, &n); err != nil {
				return nil, err
			}
			out[g] = n
		}
		return out, rows.Err()
	}
	events := "`" + s.db + "`." + s.readTable[tableEvents]
	minutes := "(SELECT DISTINCT toStartOfMinute(event_time) FROM " + events + " WHERE insert_id = ? AND ingested_at = ?)"
	ours, err := read("SELECT toStartOfMinute(event_time) AS minute, "+dims+", toUInt64(count()) FROM "+events+
		" WHERE insert_id = ? AND ingested_at = ? GROUP BY minute, "+dims, id, at)
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(rollupSettle)
	for {
		all, err := read("SELECT toStartOfMinute(event_time) AS minute, "+dims+", toUInt64(count()) FROM "+events+
			" WHERE toStartOfMinute(event_time) IN "+minutes+" GROUP BY minute, "+dims, id, at)
		if err != nil {
			return false, err
		}
		rolled, err := read("SELECT minute, "+dims+", toUInt64(sum(events)) FROM `"+s.db+"`."+s.rollupTable+
			" WHERE minute IN "+minutes+" GROUP BY minute, "+dims, id, at)
		if err != nil {
			return false, err
		}
		covered, exact := true, true
		for g, n := range ours {
			deficit := int64(all[g]) - int64(rolled[g])
			covered = covered && deficit >= int64(n)
			exact = exact && deficit == int64(n)
		}
		if covered && exact {
			return true, nil
		}
		if time.Now().After(deadline) {
			// Not covered: some group has the block's events, so the view ran.
			return covered, nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return false, err
		}
	}
}

// rollupSettle is how long a rollup shortfall is watched before it is taken as a block's.
const rollupSettle = 2 * time.Second

// afterRepeat runs after a block that failed before was accepted by a Replicated table. An
// earlier attempt may have been committed while its reply said otherwise (ZooKeeper's
// "Connection loss": the part's status is unknown and it shows up only later), and the
// accepted repeat was then dropped as a duplicate, which 18.16 does not pass to views. Once
// the block's rows are visible, the views are checked and written where they lack it.
func (w *tableWrite) afterRepeat(ctx context.Context, table string, rows []span, id uint64) error {
	s := w.sink
	if !s.checkViews {
		return nil
	}
	timeCol := "ingested_at"
	if table == tableQuarantine {
		timeCol = "received_at"
	}
	deadline := time.Now().Add(repeatVisible)
	for {
		// One replica, synced, answers every read of the check: the block, its views and
		// what the check writes are then all seen from the same server.
		conn, err := s.syncedReplica(ctx, table)
		if err != nil {
			s.m.ViewsUnchecked.WithLabelValues(table).Inc()
			s.log.Warn("no replica can sync; the views of a block that landed while its insert failed are not checked",
				"table", table, "shard", s.shard, "rows", spansLen(rows), "error", err)
			return nil
		}
		var n uint64
		err = s.retryRead(ctx, table, "count the repeated block", func(ctx context.Context) error {
			return conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM `"+s.db+"`."+s.readTable[table]+
				" WHERE insert_id = ? AND "+timeCol+" = ?", id, w.at).Scan(&n)
		})
		if err != nil {
			return err
		}
		if n >= uint64(spansLen(rows)) {
			return w.repairViews(ctx, conn, table, rows, id)
		}
		if time.Now().After(deadline) {
			s.m.ViewsUnchecked.WithLabelValues(table).Inc()
			s.log.Warn("a repeated block is not all visible yet; its views are not checked", "table", table, "shard", s.shard,
				"rows", spansLen(rows), "visible", n, "waited", repeatVisible)
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("check views of %s.%s: %w", s.db, table, err)
		}
	}
}

// repeatVisible bounds the wait for a repeated block's rows to show.
const repeatVisible = 10 * time.Second

// syncPatience bounds how long a view check waits for a replica to sync.
const syncPatience = 30 * time.Second

// syncedReplica returns a connection to one replica of the shard that has fetched every part
// its peers have of the tables a view check of table reads (the table, stored_offsets and,
// for events, the rollup): each replica is tried in turn, with backoff, for up to
// syncPatience (ZooKeeper may be coming back). A sink without per-replica connections
// syncs and reads over its one connection.
func (s *Sink) syncedReplica(ctx context.Context, table string) (driver.Conn, error) {
	tables := []string{s.readTable[table], s.readTable[tableStoredOffsets]}
	if table == tableEvents && s.rollupTable != "" {
		tables = append(tables, s.rollupTable)
	}
	// The replicas in reverse: inserts go to the first that answers, so a later one holds
	// what it fetched, and fetches take committed parts only. The first may still show a
	// part whose commit failed with an unknown outcome (18.16 drops it some 5 minutes
	// later), and count a block twice once its repeat is stored.
	var conns []driver.Conn
	for i := len(s.replicas) - 1; i >= 0; i-- {
		conns = append(conns, s.replicas[i])
	}
	if len(conns) == 0 {
		conns = []driver.Conn{s.conn}
	}
	deadline := time.Now().Add(syncPatience)
	for attempt := 0; ; attempt++ {
		var errs []error
	replicas:
		for _, conn := range conns {
			for _, t := range tables {
				if err := s.syncOn(ctx, conn, t); err != nil {
					errs = append(errs, err)
					continue replicas
				}
			}
			return conn, nil
		}
		err := errors.Join(errs...)
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, err
		}
		s.m.RetryCauses.WithLabelValues(table, retryCause(err)).Inc()
		if err := sleep(ctx, s.backoff(classRetryable, attempt)); err != nil {
			return nil, err
		}
	}
}
