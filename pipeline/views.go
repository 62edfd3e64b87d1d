package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
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

// viewsMissed reports whether stored_offsets has none of the block's rows, counting only
// parts ZooKeeper lists for the replica (committedParts).
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
	table := s.readTable[tableStoredOffsets]
	found := partCounts[struct{}]{}
	for k, sp := range spans {
		if err := found.read(ctx, conn, scanCount, "SELECT _part, toUInt64(count()) FROM `"+s.db+"`."+table+
			" WHERE kafka_topic = ? AND kafka_partition = ? AND kafka_offset >= ? AND kafka_offset <= ? AND stored_at = ? GROUP BY _part",
			k.topic, uint32(k.partition), uint64(sp.lo), uint64(sp.hi), at); err != nil {
			return false, err
		}
	}
	committed, err := s.committedParts(ctx, conn, table)
	if err != nil {
		return false, err
	}
	// Any rows at all: the views ran (or some did), and nothing here tells which, so
	// nothing is written.
	return found.committed(committed)[struct{}{}] == 0, nil
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
// the view's SELECT (schema/migrations 0004), in a fixed order. Only rows of parts ZooKeeper
// lists for the replica count: a replica that took the block while its commit had an
// unknown outcome may show it twice, its repeat and the part 18.16 drops later.
func (s *Sink) writeRollup(ctx context.Context, conn driver.Conn, id uint64, at time.Time) error {
	events := s.readTable[tableEvents]
	agg := partCounts[rollupGroup]{}
	if err := agg.read(ctx, conn, scanRollupGroup, "SELECT _part, toStartOfMinute(event_time) AS minute, "+rollupDims+", toUInt64(count()) FROM `"+
		s.db+"`."+events+" WHERE insert_id = ? AND ingested_at = ? GROUP BY _part, minute, "+rollupDims, id, at); err != nil {
		return err
	}
	committed, err := s.committedParts(ctx, conn, events)
	if err != nil {
		return err
	}
	counts := agg.committed(committed)
	if len(counts) == 0 {
		return fmt.Errorf("write the rollup of block %x: none of its rows is in a committed part of %s.%s", id, s.db, events)
	}
	groups := make([]rollupGroup, 0, len(counts))
	for g := range counts {
		groups = append(groups, g)
	}
	// The order of the view's own SELECT ... ORDER BY, so a repeated write is the same block.
	slices.SortFunc(groups, func(a, b rollupGroup) int {
		return cmp.Or(a.minute.Compare(b.minute), cmp.Compare(a.errorType, b.errorType), cmp.Compare(a.category, b.category),
			cmp.Compare(a.env, b.env), cmp.Compare(a.status, b.status), cmp.Compare(a.known, b.known))
	})
	ins, err := conn.PrepareBatch(ctx, "INSERT INTO `"+s.db+"`."+s.rollupTable+
		" (minute, error_type, category, environment, status_code, known, events)")
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := ins.Append(g.minute, g.errorType, g.category, g.env, g.status, g.known, counts[g]); err != nil {
			_ = ins.Abort()
			return err
		}
	}
	return ins.Send()
}

// rollupGroup is one row's key in the per-minute rollup.
type rollupGroup struct {
	minute                   time.Time
	errorType, category, env string
	status                   uint16
	known                    uint8
}

// rollupDims are the rollup's key columns after minute, as events and the rollup name them.
const rollupDims = "error_type, category, environment, status_code, known"

func scanRollupGroup(rows driver.Rows, part *string, n *uint64) (rollupGroup, error) {
	var g rollupGroup
	err := rows.Scan(part, &g.minute, &g.errorType, &g.category, &g.env, &g.status, &g.known, n)
	// One location for every read, so that equal minutes are equal keys.
	g.minute = g.minute.UTC()
	return g, err
}

// partCounts are counts read by a view check, by the part that holds them (the first column
// of the read, _part) and a key.
type partCounts[K comparable] map[string]map[K]uint64

// read adds what q returns: _part, then the key's columns (scan reads the row), the count
// last.
func (c partCounts[K]) read(ctx context.Context, conn driver.Conn, scan func(rows driver.Rows, part *string, n *uint64) (K, error), q string, args ...any) error {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			part string
			n    uint64
		)
		k, err := scan(rows, &part, &n)
		if err != nil {
			return err
		}
		if c[part] == nil {
			c[part] = map[K]uint64{}
		}
		c[part][k] += n
	}
	return rows.Err()
}

// scanCount reads a row of _part and a count.
func scanCount(rows driver.Rows, part *string, n *uint64) (struct{}, error) {
	return struct{}{}, rows.Scan(part, n)
}

// committed sums the counts of the parts in parts; a nil parts (a table that is not
// Replicated) takes every part.
func (c partCounts[K]) committed(parts map[string]bool) map[K]uint64 {
	out := map[K]uint64{}
	for part, counts := range c {
		if parts != nil && !parts[part] {
			continue
		}
		for k, n := range counts {
			out[k] += n
		}
	}
	return out
}

// rollupShort reports whether the rollup lacks the block with insert id: in every group
// (minute, error type, category, environment, status, known) of the block, the rollup holds
// fewer events than the shard's events table by at least the block's own count. Other
// blocks move the counts for a moment either way: an insert between its table and its view
// makes a group short, and on a replica that fetches, another block's rollup part may come
// before its events part and make a group look covered. So the counts are looked at for up
// to rollupSettle and the answer is what they say at its end; only a shortfall of exactly
// the block's counts in every group settles it sooner.
//
// Every count is of parts ZooKeeper lists for the replica (committedParts): the replica an
// insert went to may show a rollup part whose commit had an unknown outcome and failed,
// which 18.16 drops some 5 minutes later; counted, it would make the block look rolled up
// on the one replica that has it, and nobody would write the rollup that is then missing.
func (s *Sink) rollupShort(ctx context.Context, conn driver.Conn, id uint64, at time.Time) (bool, error) {
	events := s.readTable[tableEvents]
	from := "`" + s.db + "`." + events
	minutes := "(SELECT DISTINCT toStartOfMinute(event_time) FROM " + from + " WHERE insert_id = ? AND ingested_at = ?)"
	read := func(q string, args ...any) (partCounts[rollupGroup], error) {
		c := partCounts[rollupGroup]{}
		return c, c.read(ctx, conn, scanRollupGroup, q, args...)
	}
	ours, err := read("SELECT _part, toStartOfMinute(event_time) AS minute, "+rollupDims+", toUInt64(count()) FROM "+from+
		" WHERE insert_id = ? AND ingested_at = ? GROUP BY _part, minute, "+rollupDims, id, at)
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(rollupSettle)
	for {
		all, err := read("SELECT _part, toStartOfMinute(event_time) AS minute, "+rollupDims+", toUInt64(count()) FROM "+from+
			" WHERE toStartOfMinute(event_time) IN "+minutes+" GROUP BY _part, minute, "+rollupDims, id, at)
		if err != nil {
			return false, err
		}
		rolled, err := read("SELECT _part, minute, "+rollupDims+", toUInt64(sum(events)) FROM `"+s.db+"`."+s.rollupTable+
			" WHERE minute IN "+minutes+" GROUP BY _part, minute, "+rollupDims, id, at)
		if err != nil {
			return false, err
		}
		// The parts are listed after the reads: a part a read saw that ZooKeeper does not
		// list then was never committed (merged or fetched parts are committed before they
		// show, and merged-away parts stay listed for minutes).
		eventParts, err := s.committedParts(ctx, conn, events)
		if err != nil {
			return false, err
		}
		rollupParts, err := s.committedParts(ctx, conn, s.rollupTable)
		if err != nil {
			return false, err
		}
		block, inEvents, inRollup := ours.committed(eventParts), all.committed(eventParts), rolled.committed(rollupParts)
		if len(block) == 0 {
			return false, fmt.Errorf("check the rollup of block %x: none of its rows is in a committed part of %s", id, from)
		}
		covered, exact := true, true
		for g, n := range block {
			deficit := int64(inEvents[g]) - int64(inRollup[g])
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

// committedParts returns the parts of the local table that ZooKeeper lists for the replica
// conn reaches, or nil if the table is not Replicated there (every part counts). 18.16
// shows a part only once it is listed, except one whose commit had an unknown outcome
// ("Connection loss" during it): that part shows on the replica that wrote it while
// ZooKeeper may not have it, and if so it is dropped some 5 minutes later
// (MAX_AGE_OF_LOCAL_PART_THAT_WASNT_ADDED_TO_ZOOKEEPER). A view check must not take such a
// part for the block's views: read the list after the rows it filters.
func (s *Sink) committedParts(ctx context.Context, conn driver.Conn, table string) (map[string]bool, error) {
	var paths []string
	rows, err := conn.Query(ctx, "SELECT replica_path FROM system.replicas WHERE database = ? AND table = ?", s.db, table)
	if err != nil {
		return nil, fmt.Errorf("replica of %s.%s: %w", s.db, table, err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, err
		}
		paths = append(paths, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replica of %s.%s: %w", s.db, table, err)
	}
	if len(paths) == 0 {
		return nil, nil
	}
	names, err := conn.Query(ctx, "SELECT name FROM system.zookeeper WHERE path = ?", paths[0]+"/parts")
	if err != nil {
		return nil, fmt.Errorf("committed parts of %s.%s: %w", s.db, table, err)
	}
	defer names.Close()
	parts := map[string]bool{}
	for names.Next() {
		var n string
		if err := names.Scan(&n); err != nil {
			return nil, err
		}
		parts[n] = true
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("committed parts of %s.%s: %w", s.db, table, err)
	}
	return parts, nil
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
			found := partCounts[struct{}]{}
			if err := found.read(ctx, conn, scanCount, "SELECT _part, toUInt64(count()) FROM `"+s.db+"`."+s.readTable[table]+
				" WHERE insert_id = ? AND "+timeCol+" = ? GROUP BY _part", id, w.at); err != nil {
				return err
			}
			committed, err := s.committedParts(ctx, conn, s.readTable[table])
			if err != nil {
				return err
			}
			n = found.committed(committed)[struct{}{}]
			return nil
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
