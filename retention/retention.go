// Package retention keeps faultline's tables to their configured age (config retention.*).
//
// ClickHouse 18.16 has no TTL, so the portable way is the one that works everywhere: drop
// whole partitions (events and quarantine are partitioned by day, the per-minute rollup by
// month) once every row in them is older than the table's retention. A partition is dropped
// only when its whole span has expired, so retention keeps at least what it promises and at
// most one partition more. On servers that have TTL (ClickHouse 20 and later, proven on 26.7
// with chDB) ApplyTTL also sets it, so rows expire between runs at row granularity.
//
// Dropping is idempotent: several ingesters running it on a schedule only repeat no-ops.
//
// On a cluster (schema.Cluster) the rows live in each shard's <table>_local: the partitions
// are listed across the shards (the cluster() table function reads one replica of each), and
// each is dropped ON CLUSTER, which a Replicated table's replicas then follow.
package retention

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/faultline/faultline/schema"
)

// Day is the unit of retention: ClickHouse's TTL and the daily partitions count in days.
const Day = 24 * time.Hour

// Policy is how long each table keeps rows; 0 keeps them forever.
type Policy struct {
	Events     time.Duration
	Quarantine time.Duration
	Rollup     time.Duration
}

// Granularity is how a table is partitioned.
type Granularity int

// The partition keys of faultline's tables.
const (
	Daily   Granularity = iota // toYYYYMMDD(column): partition 20261202
	Monthly                    // toYYYYMM(column): partition 202612
)

// Table is one table under retention.
type Table struct {
	Name   string
	Column string // the time the partition key and the TTL are computed from
	By     Granularity
	Keep   time.Duration
}

// Tables are faultline's tables with p's retention, in a fixed order.
func Tables(p Policy) []Table {
	return []Table{
		{Name: "events", Column: "event_time", By: Daily, Keep: p.Events},
		{Name: "quarantine", Column: "received_at", By: Daily, Keep: p.Quarantine},
		{Name: "events_per_minute", Column: "minute", By: Monthly, Keep: p.Rollup},
		// The skip read's offsets must outlive the rows they stand for, or a re-read after a
		// group reset would store those rows again: they go with the longer of the two.
		{Name: "stored_offsets", Column: "stored_at", By: Daily, Keep: offsetsKeep(p)},
	}
}

// offsetsKeep is how long stored_offsets keeps a row: as long as events and quarantine do,
// forever when either does.
func offsetsKeep(p Policy) time.Duration {
	if p.Events == 0 || p.Quarantine == 0 {
		return 0
	}
	return max(p.Events, p.Quarantine)
}

// Span returns the [start, end) of partition id of granularity g, in UTC.
func Span(id uint64, g Granularity) (time.Time, time.Time, error) {
	s := strconv.FormatUint(id, 10)
	switch g {
	case Daily:
		t, err := time.Parse("20060102", s)
		if err != nil || len(s) != 8 {
			return time.Time{}, time.Time{}, fmt.Errorf("retention: partition %d is not YYYYMMDD", id)
		}
		return t, t.AddDate(0, 0, 1), nil
	case Monthly:
		t, err := time.Parse("200601", s)
		if err != nil || len(s) != 6 {
			return time.Time{}, time.Time{}, fmt.Errorf("retention: partition %d is not YYYYMM", id)
		}
		return t, t.AddDate(0, 1, 0), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("retention: unknown granularity %d", g)
}

// Expired reports whether every row of partition id is older than keep at now.
func Expired(id uint64, g Granularity, keep time.Duration, now time.Time) (bool, error) {
	if keep <= 0 {
		return false, nil
	}
	_, end, err := Span(id, g)
	if err != nil {
		return false, err
	}
	return !end.After(now.Add(-keep)), nil
}

// Drop is one partition dropped (or, in a dry run, that would be).
type Drop struct {
	Table     string
	Partition uint64
	Rows      uint64
}

// Run drops the expired partitions of every table of p in database db (on cluster c, or the
// single server ex talks to when c is the zero value) and returns them; with dryRun it only
// lists them. A failing table does not stop the others; the error names each.
func Run(ctx context.Context, ex schema.Executor, db string, c schema.Cluster, p Policy, now time.Time, dryRun bool) ([]Drop, error) {
	if err := schema.ValidateDatabase(db); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var drops []Drop
	var errs []error
	for _, t := range Tables(p) {
		d, err := runTable(ctx, ex, db, c, t, now, dryRun)
		drops = append(drops, d...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return drops, fmt.Errorf("retention: %w", errors.Join(errs...))
	}
	return drops, nil
}

// where says how a table is reached on c: the table holding its rows (the shard-local
// one on a cluster), the parts table that lists them on every shard, and the ON CLUSTER
// clause of its DDL. c is validated and the names are ours: safe to splice into SQL.
func where(c schema.Cluster, table string) (local, parts, onCluster string) {
	if !c.Enabled() {
		return table, "system.parts", ""
	}
	return c.LocalTable(table), "cluster('" + c.Name + "', system, parts)", " ON CLUSTER " + c.Name
}

func runTable(ctx context.Context, ex schema.Executor, db string, c schema.Cluster, t Table, now time.Time, dryRun bool) ([]Drop, error) {
	if t.Keep <= 0 {
		return nil, nil
	}
	local, parts, onCluster := where(c, t.Name)
	// db and c are validated, table names are ours: the only text spliced into SQL.
	ids, err := ex.QueryUint64s(ctx, schema.Render("SELECT DISTINCT toUInt64(partition) FROM "+parts+" WHERE database = '"+db+"' AND table = '"+local+"' AND active ORDER BY 1", db))
	if err != nil {
		return nil, fmt.Errorf("%s.%s: list partitions: %w", db, local, err)
	}
	var drops []Drop
	for _, id := range ids {
		exp, err := Expired(id, t.By, t.Keep, now)
		if err != nil {
			return drops, fmt.Errorf("%s.%s: %w", db, t.Name, err)
		}
		if !exp {
			continue
		}
		// cluster() reads one replica of each shard, so rows are counted once.
		rows, err := ex.QueryUint64s(ctx, schema.Render(fmt.Sprintf("SELECT sum(rows) FROM %s WHERE database = '%s' AND table = '%s' AND active AND partition = '%d'", parts, db, local, id), db))
		if err != nil {
			return drops, fmt.Errorf("%s.%s partition %d: count rows: %w", db, local, id, err)
		}
		d := Drop{Table: t.Name, Partition: id}
		if len(rows) > 0 {
			d.Rows = rows[0]
		}
		if !dryRun {
			// id is a number read from the server, printed by us: safe to splice.
			if err := ex.Exec(ctx, schema.Render(fmt.Sprintf("ALTER TABLE ${db}.%s%s DROP PARTITION %d", local, onCluster, id), db)); err != nil {
				return drops, fmt.Errorf("%s.%s: drop partition %d%s: %w", db, local, id, onCluster, err)
			}
		}
		drops = append(drops, d)
	}
	return drops, nil
}

// SupportsTTL reports whether the server has table TTL (ClickHouse 20 and later; 18.16 has
// none, 19.x only from 19.6, which this treats as none).
func SupportsTTL(ctx context.Context, ex schema.Executor) (bool, error) {
	v, err := ex.QueryUint64s(ctx, "SELECT toUInt64(splitByChar('.', version())[1])")
	if err != nil || len(v) != 1 {
		return false, fmt.Errorf("retention: server version: %w", err)
	}
	return v[0] >= 20, nil
}

// ApplyTTL sets (or, for a retention of 0, removes) each table's TTL on a server that has
// TTL, and reports whether it did; on a cluster, on the shard-local tables ON CLUSTER (not
// tried here: the only cluster on these machines is 18.16's). On 18.16 it does nothing: Run
// is the retention there.
func ApplyTTL(ctx context.Context, ex schema.Executor, db string, c schema.Cluster, p Policy) (bool, error) {
	if err := schema.ValidateDatabase(db); err != nil {
		return false, err
	}
	if err := c.Validate(); err != nil {
		return false, err
	}
	ok, err := SupportsTTL(ctx, ex)
	if err != nil || !ok {
		return false, err
	}
	for _, t := range Tables(p) {
		local, _, onCluster := where(c, t.Name)
		stmt := fmt.Sprintf("ALTER TABLE ${db}.%s%s MODIFY TTL %s + INTERVAL %d DAY", local, onCluster, t.Column, int(t.Keep/Day))
		if t.Keep <= 0 {
			stmt = fmt.Sprintf("ALTER TABLE ${db}.%s%s REMOVE TTL", local, onCluster)
		}
		if err := ex.Exec(ctx, schema.Render(stmt, db)); err != nil {
			if t.Keep <= 0 {
				continue // REMOVE TTL on a table without one fails on some versions: nothing to remove
			}
			return false, fmt.Errorf("retention: %s.%s: set TTL: %w", db, t.Name, err)
		}
	}
	return true, nil
}
