package pipeline

// What an insert attempt stored, read back before anything is retried, and the fences that
// keep an attempt from landing after a partition's next owner has read what is stored.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// verify returns the rows an attempt with insert id stored, retrying the read itself until
// it answers or ctx ends.
func (w *tableWrite) verify(ctx context.Context, table string, id uint64) (map[rowKey]bool, error) {
	s := w.sink
	for attempt := 0; ; attempt++ {
		landed, err := s.landed(ctx, table, id, w.at)
		if err == nil {
			return landed, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("check insert into %s.%s: %w", s.db, table, ctx.Err())
		}
		class := classify(err)
		s.m.InsertRetries.WithLabelValues(table, string(class)).Inc()
		s.m.RetryCauses.WithLabelValues(table, retryCause(err)).Inc()
		wait := s.backoff(class, attempt)
		if attempt%10 == 0 {
			// An outage spends its time here: say so when it starts and now and then after.
			s.log.Warn("ClickHouse unavailable; holding the batch and retrying", "table", table, "shard", s.shard,
				"class", class, "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "error", err)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("check insert into %s.%s: %w", s.db, table, err)
		}
	}
}

func (s *Sink) landed(ctx context.Context, table string, id uint64, at time.Time) (map[rowKey]bool, error) {
	s.attemptMu.RLock()
	defer s.attemptMu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// An attempt that timed out on our side may still be running on the server (a hung or
	// stopped server holds the whole block in its socket buffer). Read back only once it is
	// over, so that what it stores is known before anything is retried. On a cluster it may
	// run on any replica of the shard (one that nothing listens on runs none).
	// A Distributed insert's part on a shard runs as a query of its own, whose initial query
	// is the attempt.
	if len(s.replicas) == 0 {
		if err := s.waitQueriesGone(ctx, "query_id = ?", insertQueryID(id)); err != nil {
			return nil, err
		}
	}
	for _, conn := range s.replicas {
		if err := waitQueriesGoneOn(ctx, conn, "query_id = ? OR initial_query_id = ?", insertQueryID(id), insertQueryID(id)); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
	}
	// Rows of one commit share ingested_at/received_at, which keeps the scan narrow.
	timeCol := "ingested_at"
	if table == tableQuarantine {
		timeCol = "received_at"
	}
	q := "SELECT kafka_topic, kafka_partition, kafka_offset FROM `" + s.db + "`." + s.readTable[table] +
		" WHERE insert_id = ? AND " + timeCol + " = ?"
	rows, err := s.conn.Query(ctx, q, id, at)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[rowKey]bool{}
	for rows.Next() {
		var (
			topic string
			part  uint32
			off   uint64
		)
		if err := rows.Scan(&topic, &part, &off); err != nil {
			return nil, err
		}
		out[rowKey{topic, int32(part), int64(off)}] = true
	}
	return out, rows.Err()
}

// waitOutAttempts returns once every insert attempt in flight has ended. Called after a
// partition is marked abandoned, it guarantees no attempt carrying its rows is running.
func (s *Sink) waitOutAttempts() {
	s.attemptMu.Lock()
	defer s.attemptMu.Unlock()
}

// insertQueryPrefix starts the query id of every insert attempt: the server's
// system.processes then tells which inserts are still running (see Sink.fence).
const insertQueryPrefix = "faultline-insert-"

func insertQueryID(id uint64) string { return insertQueryPrefix + strconv.FormatUint(id, 16) }

// waitQueriesGone returns once no query matching where (a condition on system.processes
// with bound args) runs on the server, or ctx ends.
func (s *Sink) waitQueriesGone(ctx context.Context, where string, args ...any) error {
	return waitQueriesGoneOn(ctx, s.conn, where, args...)
}

// waitQueriesGoneOn is waitQueriesGone on the server conn reaches.
func waitQueriesGoneOn(ctx context.Context, conn driver.Conn, where string, args ...any) error {
	for {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.processes WHERE "+where, args...).Scan(&n); err != nil {
			return fmt.Errorf("list running inserts: %w", err)
		}
		if n == 0 {
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// fence returns once every insert attempt of any faultline ingester on this server that
// began before since (a partition's assignment) has ended. A member that gave the partition
// up, or was thrown out of the group while an attempt hung, could otherwise land rows after
// the new owner read what is stored, and they would be stored twice. Inserts begun after
// since cannot carry the partition's rows: its previous owner marked it abandoned first.
func (s *Sink) fence(ctx context.Context, since time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// elapsed is the server's own clock of each query; comparing durations needs no clock
	// agreement. The margin covers the round trip of the assignment itself.
	where, age := "position(query_id, ?) = 1 AND elapsed >= ?", max(time.Since(since).Seconds()-0.5, 0)
	if len(s.replicas) == 0 {
		return s.waitQueriesGone(ctx, where, insertQueryPrefix, age)
	}
	// On a cluster the previous owner's inserts may run on any replica of the shard. One
	// that cannot be reached at all (nothing listens) runs none.
	for _, conn := range s.replicas {
		if err := waitQueriesGoneOn(ctx, conn, where, insertQueryPrefix, age); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
	}
	return nil
}
