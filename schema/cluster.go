package schema

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Cluster says how the schema is rendered for a ClickHouse cluster (servers with
// remote_servers, ZooKeeper or Keeper, and the macros {shard} and {replica}). The zero
// value means a single server: the migrations run as written.
//
// On a cluster every table keeps its name for readers, and writers that go through it:
//   - events, quarantine, stored_offsets and events_per_minute are Distributed tables
//     over <name>_local, a Replicated*MergeTree on each shard; the materialized views
//     run on each shard's events_local and quarantine_local, so the rollup and the
//     offsets of a row live on the row's shard;
//   - catalog and schema_migrations are one Replicated*MergeTree with every node as a
//     replica (one ZooKeeper path for the whole cluster): small tables read with FINAL,
//     or by every ingester, that must be whole on every node;
//   - all DDL runs ON CLUSTER.
type Cluster struct {
	// Name is the cluster in the servers' remote_servers; empty means a single server.
	Name string
	// ZKPath is the ZooKeeper prefix of the Replicated tables' paths: a sharded table
	// lives at <ZKPath>/{shard}/<database>/<table>, a whole-cluster one at
	// <ZKPath>/all/<database>/<table>.
	ZKPath string
	// ShardingKey are the columns whose cityHash64 picks a row's shard, from
	// ShardingColumns. The default, kafka_topic and kafka_partition, keeps every row of
	// one Kafka partition on one shard.
	ShardingKey []string
}

// Enabled reports whether the schema is rendered for a cluster.
func (c Cluster) Enabled() bool { return c.Name != "" }

// DefaultZKPath is the ZooKeeper prefix of the Replicated tables when config names none.
const DefaultZKPath = "/clickhouse/tables/faultline"

// LocalSuffix names a sharded table's per-shard local table: events_local under the
// Distributed events.
const LocalSuffix = "_local"

// DefaultShardingKey keeps one Kafka partition's rows on one shard, so a retried batch
// meets its first attempt there (block deduplication) and the offsets of a partition
// are read from one place.
func DefaultShardingKey() []string { return []string{"kafka_topic", "kafka_partition"} }

// ShardingColumns are the columns a sharding key may use: every sharded table that is
// written to (events, quarantine, stored_offsets) has them.
var ShardingColumns = []string{"kafka_topic", "kafka_partition", "kafka_offset", "fingerprint"}

// shardedTables get a local Replicated table per shard and a Distributed table over
// them. keyed ones are written through the Distributed table and need a sharding key;
// events_per_minute is only fed by its view on each shard, so its Distributed table
// has none (an insert into it fails instead of scattering rows).
var shardedTables = map[string]bool{"events": true, "quarantine": true, "stored_offsets": true, "events_per_minute": false}

// wholeTables are replicated to every node of the cluster.
var wholeTables = map[string]bool{"catalog": true, MigrationsTable: true}

var zkPathRE = regexp.MustCompile(`^(/[A-Za-z0-9_.-]+)+$`)

// Validate checks the values that become SQL text: the cluster name as an identifier,
// the ZooKeeper prefix as a plain path, the sharding key as known columns. Errors
// name the field; config adds its key.
func (c Cluster) Validate() error {
	if !c.Enabled() {
		return nil
	}
	if err := ValidateClusterName(c.Name); err != nil {
		return err
	}
	if err := ValidateZKPath(c.ZKPath); err != nil {
		return err
	}
	return ValidateShardingKey(c.ShardingKey)
}

// ValidateClusterName accepts a remote_servers name that is a plain identifier.
func ValidateClusterName(name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("cluster name %q must match %s", name, identRE)
	}
	return nil
}

// ValidateZKPath accepts an absolute ZooKeeper path without macros or quotes.
func ValidateZKPath(p string) error {
	if !zkPathRE.MatchString(p) {
		return fmt.Errorf("ZooKeeper path %q must be an absolute path of letters, digits, '_', '.', '-' (no macros: /{shard}/<database>/<table> is added)", p)
	}
	return nil
}

// ValidateShardingKey accepts distinct columns out of ShardingColumns.
func ValidateShardingKey(cols []string) error {
	if len(cols) == 0 {
		return fmt.Errorf("sharding key is empty; the default is %s", strings.Join(DefaultShardingKey(), ","))
	}
	seen := map[string]bool{}
	for _, col := range cols {
		if !slices.Contains(ShardingColumns, col) {
			return fmt.Errorf("sharding key column %q is not one of %s", col, strings.Join(ShardingColumns, ", "))
		}
		if seen[col] {
			return fmt.Errorf("sharding key names column %q twice", col)
		}
		seen[col] = true
	}
	return nil
}

// ShardingExpr is the Distributed tables' sharding expression.
func (c Cluster) ShardingExpr() string {
	return "cityHash64(" + strings.Join(c.ShardingKey, ", ") + ")"
}

// LocalTable returns the table that holds table's rows on one node: table itself on a
// single server and for whole-cluster tables, <table>_local for sharded ones.
func (c Cluster) LocalTable(table string) string {
	if _, ok := shardedTables[table]; ok && c.Enabled() {
		return table + LocalSuffix
	}
	return table
}

var (
	createTableRE = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS \$\{db\}\.(\w+) \((.*)\) ENGINE = (\w+)(\(([^)]*)\))?(\s.*)?$`)
	createViewRE  = regexp.MustCompile(`(?s)^CREATE MATERIALIZED VIEW IF NOT EXISTS \$\{db\}\.(\w+) TO \$\{db\}\.(\w+) AS(\s.*)$`)
	alterRE       = regexp.MustCompile(`(?s)^ALTER TABLE \$\{db\}\.(\w+) (.*)$`)
	insertRE      = regexp.MustCompile(`(?s)^INSERT INTO \$\{db\}\.(\w+)\s.*$`)
	databaseRE    = regexp.MustCompile(`^CREATE DATABASE IF NOT EXISTS \$\{db\}$`)
	fromRE        = regexp.MustCompile(`FROM \$\{db\}\.(\w+)`)
)

// RenderCluster turns one migration statement (with ${db} in place) into the
// statements that do the same on the cluster, with the database put in. On a single
// server it is Render. Statements of a form it does not know are an error, so a new
// migration cannot slip past cluster mode unnoticed (a test renders all of them).
func RenderCluster(stmt, database string, c Cluster) ([]string, error) {
	if !c.Enabled() {
		return []string{Render(stmt, database)}, nil
	}
	on := " ON CLUSTER " + c.Name
	var out []string
	switch {
	case databaseRE.MatchString(stmt):
		out = []string{stmt + on}

	case createTableRE.MatchString(stmt):
		m := createTableRE.FindStringSubmatch(stmt)
		table, cols, engine, args, rest := m[1], m[2], m[3], m[5], m[6]
		if !strings.HasSuffix(engine, "MergeTree") || strings.HasPrefix(engine, "Replicated") {
			return nil, fmt.Errorf("table %s: engine %s has no Replicated form here", table, engine)
		}
		keyed, sharded := shardedTables[table]
		if !sharded && !wholeTables[table] {
			return nil, fmt.Errorf("table %s is neither sharded nor whole-cluster in schema/cluster.go", table)
		}
		local, path, replica := table, c.ZKPath+"/all/"+database+"/"+table, "{shard}-{replica}"
		if sharded {
			local = table + LocalSuffix
			path, replica = c.ZKPath+"/{shard}/"+database+"/"+local, "{replica}"
		}
		// The path holds the database name, validated as an identifier, and ZKPath,
		// validated as a plain path: neither can close the string literal.
		rargs := "'" + path + "', '" + replica + "'"
		if strings.TrimSpace(args) != "" {
			rargs += ", " + args
		}
		out = append(out, fmt.Sprintf("CREATE TABLE IF NOT EXISTS ${db}.%s%s (%s) ENGINE = Replicated%s(%s)%s",
			local, on, cols, engine, rargs, rest))
		if sharded {
			dargs := fmt.Sprintf("%s, '%s', '%s'", c.Name, database, local)
			if keyed {
				dargs += ", " + c.ShardingExpr()
			}
			out = append(out, fmt.Sprintf("CREATE TABLE IF NOT EXISTS ${db}.%s%s AS ${db}.%s ENGINE = Distributed(%s)",
				table, on, local, dargs))
		}

	case createViewRE.MatchString(stmt):
		// The view reads each shard's local table and writes the local target there.
		m := createViewRE.FindStringSubmatch(stmt)
		view, target, body := m[1], m[2], m[3]
		body = fromRE.ReplaceAllStringFunc(body, func(s string) string {
			return "FROM ${db}." + c.LocalTable(fromRE.FindStringSubmatch(s)[1])
		})
		out = []string{fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.%s%s TO ${db}.%s AS%s",
			view, on, c.LocalTable(target), body)}

	case alterRE.MatchString(stmt):
		m := alterRE.FindStringSubmatch(stmt)
		table, rest := m[1], m[2]
		local := c.LocalTable(table)
		out = append(out, fmt.Sprintf("ALTER TABLE ${db}.%s%s %s", local, on, rest))
		if local != table {
			// The Distributed table's columns must follow its local table's, but 18.16
			// refuses ALTER ... ON CLUSTER of a table that is not replicated on a cluster
			// with internal_replication. It holds no data (inserts are synchronous), so
			// it is made again from the local table: readers miss it for a moment.
			create, err := RenderCluster(createTableFor(table), database, c)
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprintf("DROP TABLE IF EXISTS ${db}.%s%s", table, on))
			out = append(out, create[len(create)-1])
		}

	case insertRE.MatchString(stmt):
		// A backfill between sharded tables: through the Distributed tables, whose
		// sharding key sends each row to the shard of the row it was made from, and
		// synchronously, so that the migration is done when it is recorded.
		out = []string{stmt + " SETTINGS insert_distributed_sync = 1"}

	default:
		return nil, fmt.Errorf("statement %.60q... has no cluster form in schema/cluster.go", stmt)
	}
	for i := range out {
		out[i] = Render(out[i], database)
	}
	return out, nil
}

// createTableFor is a stand-in CREATE of a sharded table in the form RenderCluster
// knows: only its last statement, the Distributed table over <table>_local, is used.
func createTableFor(table string) string {
	return "CREATE TABLE IF NOT EXISTS ${db}." + table + " (x UInt8) ENGINE = MergeTree ORDER BY x"
}

// migrationsTableDDL is the migrations table, in the form RenderCluster knows.
const migrationsTableDDL = `CREATE TABLE IF NOT EXISTS ${db}.` + MigrationsTable + ` (
    version UInt32, name String, applied_at DateTime
) ENGINE = ReplacingMergeTree(applied_at) ORDER BY version`

// StringQuerier is an Executor that can also read string columns; the native one can.
// Migrate uses it to name the hosts an ON CLUSTER statement waited for.
type StringQuerier interface {
	// QueryStrings runs a query whose result is one String column.
	QueryStrings(ctx context.Context, sql string, args ...any) ([]string, error)
}

// ddlTaskRE finds the distributed DDL task in 18.16's and later servers' timeout error:
// "Watching task /clickhouse/task_queue/ddl/query-0000000003 is executing longer than
// distributed_ddl_task_timeout (=5) seconds. There are 1 unfinished hosts ...".
var ddlTaskRE = regexp.MustCompile(`Watching task (/\S+/query-\d+) is executing longer than distributed_ddl_task_timeout \(=(\d+)\)`)

// ddlHostsRE finds the hosts line of a DDL task's ZooKeeper node.
var ddlHostsRE = regexp.MustCompile(`(?m)^hosts: \[(.*)\]$`)

// ddlError names the hosts that did not answer an ON CLUSTER statement that ran out of
// distributed_ddl_task_timeout: the server's own error only counts them. The task's
// ZooKeeper node lists its hosts, and its finished/ child one node per host done.
func ddlError(ctx context.Context, db Executor, sql string, err error) error {
	m := ddlTaskRE.FindStringSubmatch(err.Error())
	q, ok := db.(StringQuerier)
	if m == nil || !ok {
		return err
	}
	task, secs := m[1], m[2]
	dir, name := path.Split(task)
	// A fresh context: the statement's may be nearly spent.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	values, qerr := q.QueryStrings(rctx, "SELECT value FROM system.zookeeper WHERE path = ? AND name = ?", strings.TrimSuffix(dir, "/"), name)
	finished, ferr := q.QueryStrings(rctx, "SELECT name FROM system.zookeeper WHERE path = ?", task+"/finished")
	if qerr != nil || ferr != nil || len(values) != 1 {
		return fmt.Errorf("ON CLUSTER statement not done on every host within distributed_ddl_task_timeout %ss (task %s; the hosts could not be read: %v): %w",
			secs, task, errors.Join(qerr, ferr), err)
	}
	hm := ddlHostsRE.FindStringSubmatch(values[0])
	if hm == nil {
		return fmt.Errorf("ON CLUSTER statement not done on every host within distributed_ddl_task_timeout %ss (task %s): %w", secs, task, err)
	}
	done := map[string]bool{}
	for _, f := range finished {
		done[unescapeHostID(f)] = true
	}
	var missing []string
	for _, h := range strings.Split(hm[1], ",") {
		h = unescapeHostID(strings.Trim(strings.TrimSpace(h), "'"))
		if h != "" && !done[h] {
			missing = append(missing, h)
		}
	}
	return fmt.Errorf("ON CLUSTER statement not done within distributed_ddl_task_timeout %ss by %s (it runs there once they are back; task %s): %w",
		secs, strings.Join(missing, ", "), task, err)
}

// unescapeHostID undoes the %XX escaping ClickHouse applies to host ids in ZooKeeper
// node names and in a task's host list (":" is %3A).
func unescapeHostID(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
