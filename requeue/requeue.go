// Package requeue runs quarantined messages through today's checks and catalog again (after a
// fix to the checks, a larger checks.max_message_bytes, a producer that was right after all):
// those now accepted move to events, exactly once, and leave quarantine.
//
// Exactly once: a message is identified by its Kafka topic, partition and offset, kept in both
// tables. A requeue first skips messages already in events (a requeue that stopped between its
// insert and its delete), inserts the rest through the ingester's own sink, then deletes the
// quarantine rows of every message now in events. Run again after any failure, it finishes
// the job without doubling anything. ClickHouse 18.16 deletes with a mutation (ALTER DELETE),
// which completes in the background: until it has, a moved message is visible in both tables.
//
// On a cluster (Options.Cluster) the rows go through the Distributed tables, synchronously,
// and the delete runs ON CLUSTER on every shard's quarantine_local. The check for messages
// already in events reads one replica of each shard: run again within seconds of a run that
// failed after its insert, it can miss rows the other replica has not fetched yet.
package requeue

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/schema"
)

// Options choose the quarantined messages to try again.
type Options struct {
	// Reasons limits the requeue to these rejection reasons; empty means every reason except
	// pipeline.ReasonServerRejected (ClickHouse itself refused those rows: the checks pass them
	// by definition, name it explicitly to retry them).
	Reasons []string
	// Since and Until bound received_at, [Since, Until); Until is at most the run's start, so
	// that rows quarantined during the run (refused by the server) are never touched.
	Since, Until time.Time
	// Limit caps the messages of one run (0: 10000); run again for more.
	Limit int
	// DryRun reports what would move without changing anything.
	DryRun bool
	// Progress, when set, is told the messages checked so far of the selection's size (at
	// most Limit), as rows are read and once more when the run is done.
	Progress func(done, total int64)
	// Cluster is the ClickHouse cluster the database is on (the zero value: one server).
	// Reads and inserts go through its Distributed tables (the sink must be made with
	// pipeline.NewDistributedSink); the moved rows are deleted from every shard's
	// quarantine_local, ON CLUSTER, since a Distributed table takes no mutations.
	Cluster schema.Cluster
}

// Result counts one run.
type Result struct {
	Examined      int            // quarantined messages read
	Accepted      map[string]int // by old reason: accepted by today's checks
	StillRejected map[string]int // by today's reason
	AlreadyStored int            // accepted, and already in events from an earlier run
	Moved         int            // inserted into events now (0 in a dry run)
	Refused       int            // accepted, but ClickHouse refused the row: quarantined anew
}

type quarantined struct {
	topic     string
	partition int32
	offset    int64
	kafkaTime time.Time
	key       []byte
	payload   []byte
	reason    string
	fp        uint64 // the message's fingerprint, carried to events for the skip read
}

// Run requeues the messages o selects from database db.
func Run(ctx context.Context, conn driver.Conn, db string, checker *event.Checker, sink *pipeline.Sink, o Options) (Result, error) {
	res := Result{Accepted: map[string]int{}, StillRejected: map[string]int{}}
	if err := schema.ValidateDatabase(db); err != nil {
		return res, err
	}
	if err := o.Cluster.Validate(); err != nil {
		return res, err
	}
	if o.Limit <= 0 {
		o.Limit = 10000
	}
	start := time.Now().UTC().Truncate(time.Second)
	if o.Until.IsZero() || o.Until.After(start) {
		o.Until = start
	}
	where, args := selection(db, o)
	progress := func(int64, int64) {}
	var total int64
	if o.Progress != nil {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count()"+where, args...).Scan(&n); err != nil {
			return res, fmt.Errorf("requeue: count %s.quarantine: %w", db, err)
		}
		total = min(int64(n), int64(o.Limit))
		progress = o.Progress
		progress(0, total)
		defer func() { progress(int64(res.Examined), total) }()
	}
	rows, err := conn.Query(ctx, selectSQL(where), append(args, o.Limit)...)
	if err != nil {
		return res, fmt.Errorf("requeue: read %s.quarantine: %w", db, err)
	}
	var accepted []*pipeline.Row
	for rows.Next() {
		var q quarantined
		var part uint32
		var off uint64
		var key, payload string
		if err := rows.Scan(&q.topic, &part, &off, &q.kafkaTime, &key, &payload, &q.reason, &q.fp); err != nil {
			rows.Close()
			return res, fmt.Errorf("requeue: read %s.quarantine: %w", db, err)
		}
		q.partition, q.offset, q.key, q.payload = int32(part), int64(off), []byte(key), []byte(payload)
		res.Examined++
		if res.Examined%1000 == 0 {
			progress(int64(res.Examined), total)
		}
		r := &pipeline.Row{Topic: q.topic, Partition: q.partition, Offset: q.offset, KafkaTime: q.kafkaTime, Key: q.key, Payload: q.payload}
		r.SetFingerprint(q.fp)
		rej, ok := checker.Check(r.Payload, r.KafkaTime, &r.Event)
		if !ok {
			res.StillRejected[string(rej.Reason)]++
			continue
		}
		r.Accepted = true
		res.Accepted[q.reason]++
		accepted = append(accepted, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("requeue: read %s.quarantine: %w", db, err)
	}

	stored, err := storedOffsets(ctx, conn, db, accepted)
	if err != nil {
		return res, err
	}
	var fresh []*pipeline.Row
	for _, r := range accepted {
		if stored[key(r)] {
			res.AlreadyStored++
			continue
		}
		fresh = append(fresh, r)
	}
	if o.DryRun || len(accepted) == 0 {
		return res, nil
	}
	if len(fresh) > 0 {
		b := sink.Begin()
		for _, r := range fresh {
			b.Append(r)
		}
		cr, err := b.Commit(ctx)
		if err != nil {
			return res, fmt.Errorf("requeue: insert into %s.events: %w", db, err)
		}
		res.Moved, res.Refused = cr.Events, cr.Quarantine
	}
	// Every accepted message is now in events (or, refused by the server, in a new quarantine
	// row): its old quarantine row goes.
	if err := deleteQuarantined(ctx, conn, db, o.Cluster, accepted, o.Until); err != nil {
		return res, err
	}
	return res, nil
}

// selection is the FROM and WHERE of the quarantined rows o chooses, with its arguments.
func selection(db string, o Options) (string, []any) {
	where := " FROM " + schema.Render("${db}", db) + ".quarantine WHERE received_at >= ? AND received_at < ?"
	args := []any{o.Since.UTC(), o.Until.UTC()}
	if len(o.Reasons) > 0 {
		// One placeholder per reason: clickhouse-go binds a slice as an array, which 18.16's
		// IN refuses (Type mismatch in IN section).
		where += " AND reason IN (?" + strings.Repeat(", ?", len(o.Reasons)-1) + ")"
		for _, r := range o.Reasons {
			args = append(args, r)
		}
	} else {
		where += " AND reason != ?"
		args = append(args, pipeline.ReasonServerRejected)
	}
	return where, args
}

// selectSQL reads a selection's rows, in offset order, up to a limit (the last argument).
func selectSQL(where string) string {
	return "SELECT kafka_topic, kafka_partition, kafka_offset, kafka_time, kafka_key, payload, reason, fingerprint" + where +
		" ORDER BY kafka_topic, kafka_partition, kafka_offset LIMIT ?"
}

type offsetKey struct {
	topic     string
	partition int32
	offset    int64
}

func key(r *pipeline.Row) offsetKey { return offsetKey{r.Topic, r.Partition, r.Offset} }

// byPartition groups rows' offsets by topic and partition.
// byPartition groups rows' offsets by topic and partition, in chunks of at most
// maxInList, so that no statement outgrows the server's max_query_size (256 KiB).
func byPartition(rows []*pipeline.Row) map[offsetKey][][]int64 {
	all := map[offsetKey][]int64{}
	for _, r := range rows {
		k := offsetKey{r.Topic, r.Partition, 0}
		all[k] = append(all[k], r.Offset)
	}
	out := map[offsetKey][][]int64{}
	for k, offs := range all {
		slices.Sort(offs)
		for len(offs) > maxInList {
			out[k] = append(out[k], offs[:maxInList])
			offs = offs[maxInList:]
		}
		out[k] = append(out[k], offs)
	}
	return out
}

const maxInList = 5000

func storedOffsets(ctx context.Context, conn driver.Conn, db string, rows []*pipeline.Row) (map[offsetKey]bool, error) {
	stored := map[offsetKey]bool{}
	for k, chunks := range byPartition(rows) {
		for _, offs := range chunks {
			if err := storedChunk(ctx, conn, db, k, offs, stored); err != nil {
				return nil, err
			}
		}
	}
	return stored, nil
}

func storedChunk(ctx context.Context, conn driver.Conn, db string, k offsetKey, offs []int64, stored map[offsetKey]bool) error {
	rs, err := conn.Query(ctx, storedSQL(db, offs), k.topic, uint32(k.partition))
	if err != nil {
		return fmt.Errorf("requeue: look up %s.events: %w", db, err)
	}
	defer rs.Close()
	for rs.Next() {
		var off uint64
		if err := rs.Scan(&off); err != nil {
			return fmt.Errorf("requeue: look up %s.events: %w", db, err)
		}
		stored[offsetKey{k.topic, k.partition, int64(off)}] = true
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("requeue: look up %s.events: %w", db, err)
	}
	return nil
}

func deleteQuarantined(ctx context.Context, conn driver.Conn, db string, c schema.Cluster, rows []*pipeline.Row, before time.Time) error {
	for k, chunks := range byPartition(rows) {
		for _, offs := range chunks {
			if err := deleteChunk(ctx, conn, db, c, k, offs, before); err != nil {
				return err
			}
		}
	}
	return nil
}

func deleteChunk(ctx context.Context, conn driver.Conn, db string, c schema.Cluster, k offsetKey, offs []int64, before time.Time) error {
	// Only the rows read (received before the run): a row the server refused during this run
	// was quarantined anew, received now.
	if err := conn.Exec(ctx, deleteSQL(db, c, offs), k.topic, uint32(k.partition), before); err != nil {
		return fmt.Errorf("requeue: delete moved rows from %s.quarantine: %w", db, err)
	}
	return nil
}

// storedSQL finds which of offs of one topic and partition (the arguments) are in events.
func storedSQL(db string, offs []int64) string {
	return "SELECT DISTINCT kafka_offset FROM " + schema.Render("${db}", db) + ".events WHERE kafka_topic = ? AND kafka_partition = ? AND kafka_offset IN " + inList(offs)
}

// deleteSQL deletes the quarantine rows at offs of one topic and partition received before a
// time (the arguments); on cluster c from every shard's local table (c is validated: its name
// is an identifier).
func deleteSQL(db string, c schema.Cluster, offs []int64) string {
	table := schema.Render("${db}", db) + "." + c.LocalTable("quarantine")
	if c.Enabled() {
		table += " ON CLUSTER " + c.Name
	}
	return "ALTER TABLE " + table + " DELETE WHERE kafka_topic = ? AND kafka_partition = ? AND kafka_offset IN " + inList(offs) + " AND received_at < ?"
}

// inList prints offsets as an IN list. They are integers read from ClickHouse and printed
// here, never user text; clickhouse-go would bind a slice as an array, which 18.16's IN
// refuses.
func inList(offs []int64) string {
	parts := make([]string, len(offs))
	for i, o := range offs {
		parts[i] = strconv.FormatInt(o, 10)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
