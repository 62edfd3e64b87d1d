package schema_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

func testCluster(name string) schema.Cluster {
	return schema.Cluster{Name: name, ZKPath: schema.DefaultZKPath, ShardingKey: schema.DefaultShardingKey()}
}

// The migrations apply ON CLUSTER on the real 2x2 cluster, twice, and every node ends
// with the same tables; rows sharded by Kafka partition land whole on one shard, and
// the views fill the rollup and the offsets on that shard.
func TestClusterMigrate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := testenv.ClickHouseCluster(t)
	cl := testCluster(db.Name)
	ex := schema.Native(db.Conn)
	migs, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	opts := schema.Options{Cluster: cl, DDLTimeout: 20 * time.Second}
	first, err := schema.MigrateOn(ctx, ex, db.Database, opts)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(first) != len(migs) {
		t.Fatalf("first migrate applied %v, want all %d", first, len(migs))
	}
	// Another node answers from the replicated migrations table: nothing to do there.
	other := schema.Native(db.NodeConn(t, 3))
	if err := db.NodeConn(t, 3).Exec(ctx, "SYSTEM SYNC REPLICA "+schema.MigrationsTable); err != nil {
		t.Fatalf("sync migrations table: %v", err)
	}
	second, err := schema.MigrateOn(ctx, other, db.Database, opts)
	if err != nil {
		t.Fatalf("second migrate, on %s: %v", db.Nodes[3].Name, err)
	}
	if len(second) != 0 {
		t.Fatalf("second migrate applied %v, want none", second)
	}
	// Re-running every statement is harmless too (two ingesters racing at start).
	for _, m := range migs {
		for _, stmt := range m.Statements {
			if err := schema.ApplyOn(ctx, ex, db.Database, cl, stmt); err != nil {
				t.Fatalf("re-run %04d_%s: %v", m.Version, m.Name, err)
			}
		}
	}
	want := map[string]string{
		"events": "Distributed", "events_local": "ReplicatedMergeTree",
		"quarantine": "Distributed", "quarantine_local": "ReplicatedMergeTree",
		"stored_offsets": "Distributed", "stored_offsets_local": "ReplicatedMergeTree",
		"events_per_minute": "Distributed", "events_per_minute_local": "ReplicatedSummingMergeTree",
		"catalog": "ReplicatedReplacingMergeTree", schema.MigrationsTable: "ReplicatedReplacingMergeTree",
		"events_per_minute_mv": "MaterializedView", "events_offsets_mv": "MaterializedView", "quarantine_offsets_mv": "MaterializedView",
	}
	for i, n := range db.Nodes {
		rows, err := db.NodeConn(t, i).Query(ctx, "SELECT name, engine FROM system.tables WHERE database = ?", db.Database)
		if err != nil {
			t.Fatalf("%s: system.tables: %v", n.Name, err)
		}
		got := map[string]string{}
		for rows.Next() {
			var name, engine string
			if err := rows.Scan(&name, &engine); err != nil {
				t.Fatal(err)
			}
			got[name] = engine
		}
		rows.Close()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("node %s tables:\n got %v\nwant %v", n.Name, got, want)
		}
		// The fingerprint column reached the Distributed and the local tables.
		var cols uint64
		if err := db.NodeConn(t, i).QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND name = 'fingerprint' AND table IN ('events', 'events_local', 'quarantine', 'quarantine_local')", db.Database).Scan(&cols); err != nil || cols != 4 {
			t.Errorf("node %s: fingerprint in %d of 4 tables (%v)", n.Name, cols, err)
		}
	}

	// Ten Kafka partitions' rows through the Distributed table, synchronously.
	b, err := db.Conn.PrepareBatch(clusterSync(ctx), "INSERT INTO events (event_time, error_type, status_code, kafka_topic, kafka_partition, kafka_offset, ingested_at)")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for p := range 10 {
		for o := range 5 {
			if err := b.Append(at.Add(time.Duration(o)*time.Second), "billing_not_verified", uint16(400), "errors", uint32(p), uint64(o), at); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert through Distributed: %v", err)
	}
	// The insert landed on either replica of each shard: wait for the other.
	db.SyncReplicas(t, "events_local", "events_per_minute_local", "stored_offsets_local")
	// Each partition is on exactly one shard; both shards hold some.
	shardOf := map[uint32]int{}
	perShard := map[int]uint64{}
	for _, n := range db.Nodes {
		if n.Replica != 1 {
			continue
		}
		i := indexOf(db, n)
		rows, err := db.NodeConn(t, i).Query(ctx, "SELECT kafka_partition, count() FROM events_local GROUP BY kafka_partition")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p uint32
			var c uint64
			if err := rows.Scan(&p, &c); err != nil {
				t.Fatal(err)
			}
			if s, dup := shardOf[p]; dup {
				t.Errorf("partition %d on shards %d and %d", p, s, n.Shard)
			}
			if c != 5 {
				t.Errorf("partition %d: %d rows on shard %d, want all 5", p, c, n.Shard)
			}
			shardOf[p] = n.Shard
			perShard[n.Shard] += c
		}
		rows.Close()
	}
	if len(shardOf) != 10 || perShard[1] == 0 || perShard[2] == 0 {
		t.Errorf("partitions by shard %v, rows by shard %v: want all 10 partitions over both shards", shardOf, perShard)
	}
	for _, q := range []struct {
		sql  string
		want uint64
	}{
		{"SELECT count() FROM events", 50},
		{"SELECT sum(events) FROM events_per_minute", 50},
		{"SELECT count() FROM stored_offsets", 50},
	} {
		var got uint64
		if err := db.Conn.QueryRow(ctx, q.sql).Scan(&got); err != nil || got != q.want {
			t.Errorf("%s = %d (%v), want %d", q.sql, got, err, q.want)
		}
	}
}

func indexOf(db *testenv.ClusterDB, n *testenv.Node) int {
	for i, m := range db.Nodes {
		if m == n {
			return i
		}
	}
	return -1
}

// With a node hung, an ON CLUSTER statement fails after the DDL timeout, naming the
// node; once it is back the migration completes.
func TestClusterDDLTimeoutNamesTheHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := testenv.ClickHouseCluster(t)
	hung := db.Nodes[3]
	hung.Pause(t)
	paused := true
	defer func() {
		if paused {
			hung.Continue(t)
		}
	}()
	opts := schema.Options{Cluster: testCluster(db.Name), DDLTimeout: 2 * time.Second}
	_, err := schema.MigrateOn(ctx, schema.Native(db.Conn), db.Database, opts)
	if err == nil {
		t.Fatal("migrate with a hung node succeeded")
	}
	if !strings.Contains(err.Error(), "by "+hung.Addr+" ") || strings.Contains(err.Error(), db.Nodes[0].Addr+",") {
		t.Fatalf("error does not name the hung node %s (only): %v", hung.Addr, err)
	}
	t.Logf("error: %v", err)
	hung.Continue(t)
	paused = false
	if _, err := schema.MigrateOn(ctx, schema.Native(db.Conn), db.Database, schema.Options{Cluster: testCluster(db.Name), DDLTimeout: 20 * time.Second}); err != nil {
		t.Fatalf("migrate after the node is back: %v", err)
	}
}

// Every rendered cluster statement parses on ClickHouse 26.7 (chDB has no cluster or
// ZooKeeper to apply them on, so EXPLAIN AST is as far as it goes there).
func TestClusterStatementsParseOnCHDB(t *testing.T) {
	s := testenv.CHDB(t)
	migs, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range migs {
		for i, stmt := range m.Statements {
			out, err := schema.RenderCluster(stmt, "fl", testCluster("prod"))
			if err != nil {
				t.Fatalf("%04d_%s statement %d: %v", m.Version, m.Name, i+1, err)
			}
			for _, sql := range out {
				if _, err := s.Query("EXPLAIN AST "+sql, "TSV"); err != nil {
					t.Errorf("26.7 does not parse %04d_%s statement %d:\n%s\n%v", m.Version, m.Name, i+1, sql, err)
				}
				n++
			}
		}
	}
	t.Logf("%d cluster statements parsed", n)
	// The check can fail: a statement 26.7 cannot parse is refused.
	if _, err := s.Query("EXPLAIN AST CREATE TABLE fl.x ON CLUSTER prod (x UInt8) ENGINE = ReplicatedMergeTree('/p', '{replica}' ORDER BY x", "TSV"); err == nil {
		t.Error("EXPLAIN AST accepted a statement with an unclosed engine")
	}
}

func TestRenderCluster(t *testing.T) {
	cl := testCluster("prod")
	cases := []struct {
		name, stmt string
		want       []string
	}{
		{"single server is Render", "CREATE DATABASE IF NOT EXISTS ${db}", nil},
		{"database", "CREATE DATABASE IF NOT EXISTS ${db}", []string{"CREATE DATABASE IF NOT EXISTS `fl` ON CLUSTER prod"}},
		{"sharded table", "CREATE TABLE IF NOT EXISTS ${db}.events (\nx UInt8, s LowCardinality(String)\n) ENGINE = MergeTree\nPARTITION BY x\nORDER BY (s, x)", []string{
			"CREATE TABLE IF NOT EXISTS `fl`.events_local ON CLUSTER prod (\nx UInt8, s LowCardinality(String)\n) ENGINE = ReplicatedMergeTree('/clickhouse/tables/faultline/{shard}/fl/events_local', '{replica}')\nPARTITION BY x\nORDER BY (s, x)",
			"CREATE TABLE IF NOT EXISTS `fl`.events ON CLUSTER prod AS `fl`.events_local ENGINE = Distributed(prod, 'fl', 'events_local', cityHash64(kafka_topic, kafka_partition))",
		}},
		{"rollup: no sharding key", "CREATE TABLE IF NOT EXISTS ${db}.events_per_minute (n UInt64) ENGINE = SummingMergeTree(n)\nORDER BY n", []string{
			"CREATE TABLE IF NOT EXISTS `fl`.events_per_minute_local ON CLUSTER prod (n UInt64) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/faultline/{shard}/fl/events_per_minute_local', '{replica}', n)\nORDER BY n",
			"CREATE TABLE IF NOT EXISTS `fl`.events_per_minute ON CLUSTER prod AS `fl`.events_per_minute_local ENGINE = Distributed(prod, 'fl', 'events_per_minute_local')",
		}},
		{"whole-cluster table", "CREATE TABLE IF NOT EXISTS ${db}.catalog (e String, u DateTime) ENGINE = ReplacingMergeTree(u)\nORDER BY e", []string{
			"CREATE TABLE IF NOT EXISTS `fl`.catalog ON CLUSTER prod (e String, u DateTime) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/faultline/all/fl/catalog', '{shard}-{replica}', u)\nORDER BY e",
		}},
		{"view reads and writes local tables", "CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.v TO ${db}.stored_offsets AS\nSELECT a FROM ${db}.events", []string{
			"CREATE MATERIALIZED VIEW IF NOT EXISTS `fl`.v ON CLUSTER prod TO `fl`.stored_offsets_local AS\nSELECT a FROM `fl`.events_local",
		}},
		{"add column", "ALTER TABLE ${db}.quarantine ADD COLUMN f UInt64 DEFAULT 0", []string{
			"ALTER TABLE `fl`.quarantine_local ON CLUSTER prod ADD COLUMN f UInt64 DEFAULT 0",
			"DROP TABLE IF EXISTS `fl`.quarantine ON CLUSTER prod",
			"CREATE TABLE IF NOT EXISTS `fl`.quarantine ON CLUSTER prod AS `fl`.quarantine_local ENGINE = Distributed(prod, 'fl', 'quarantine_local', cityHash64(kafka_topic, kafka_partition))",
		}},
		{"backfill", "INSERT INTO ${db}.stored_offsets\nSELECT a FROM ${db}.events", []string{
			"INSERT INTO `fl`.stored_offsets\nSELECT a FROM `fl`.events SETTINGS insert_distributed_sync = 1",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cl
			if tc.want == nil {
				c = schema.Cluster{}
				tc.want = []string{schema.Render(tc.stmt, "fl")}
			}
			got, err := schema.RenderCluster(tc.stmt, "fl", c)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n;\n") != strings.Join(tc.want, "\n;\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n;\n"), strings.Join(tc.want, "\n;\n"))
			}
		})
	}
	for _, bad := range []string{
		"CREATE TABLE IF NOT EXISTS ${db}.other (x UInt8) ENGINE = MergeTree ORDER BY x",
		"CREATE TABLE IF NOT EXISTS ${db}.events (x UInt8) ENGINE = Memory",
		"DROP TABLE ${db}.events",
	} {
		if _, err := schema.RenderCluster(bad, "fl", cl); err == nil {
			t.Errorf("rendered %q", bad)
		}
	}
}

func TestClusterValidate(t *testing.T) {
	good := testCluster("prod")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (schema.Cluster{}).Validate(); err != nil {
		t.Fatalf("single server: %v", err)
	}
	for name, c := range map[string]schema.Cluster{
		"name":           {Name: "prod-eu", ZKPath: "/a", ShardingKey: []string{"kafka_topic"}},
		"relative path":  {Name: "p", ZKPath: "a/b", ShardingKey: []string{"kafka_topic"}},
		"macro in path":  {Name: "p", ZKPath: "/a/{shard}", ShardingKey: []string{"kafka_topic"}},
		"quote in path":  {Name: "p", ZKPath: "/a'b", ShardingKey: []string{"kafka_topic"}},
		"unknown column": {Name: "p", ZKPath: "/a", ShardingKey: []string{"error_type"}},
		"expression":     {Name: "p", ZKPath: "/a", ShardingKey: []string{"rand()"}},
		"twice":          {Name: "p", ZKPath: "/a", ShardingKey: []string{"kafka_topic", "kafka_topic"}},
		"empty key":      {Name: "p", ZKPath: "/a"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: %+v accepted", name, c)
		}
	}
	if got := good.LocalTable("events"); got != "events_local" {
		t.Errorf("LocalTable(events) = %s", got)
	}
	if got := good.LocalTable("catalog"); got != "catalog" {
		t.Errorf("LocalTable(catalog) = %s", got)
	}
	if got := (schema.Cluster{}).LocalTable("events"); got != "events" {
		t.Errorf("single server LocalTable(events) = %s", got)
	}
}

// The README's move of a single-server database to cluster mode: migrate the cluster,
// INSERT ... SELECT * FROM remote() the old events, quarantine and catalog through the
// Distributed tables; the views refill the rollup and stored_offsets on each shard.
func TestMoveSingleServerToCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old := testenv.ClickHouse(t)
	if _, err := schema.Migrate(ctx, schema.Native(old.Conn), old.Database); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO events (event_time, error_type, status_code, kafka_topic, kafka_partition, kafka_offset, ingested_at, fingerprint)
SELECT toDateTime('2026-11-29 00:00:00') + number * 7, concat('type_', toString(number % 4)), 400, 'api-errors',
    toUInt32(number % 6), number, toDateTime('2026-11-29 00:00:00') + number * 7, number + 1 FROM system.numbers LIMIT 3000`,
		`INSERT INTO quarantine (received_at, reason, payload, kafka_topic, kafka_partition, kafka_offset, fingerprint)
SELECT toDateTime('2026-11-29 00:00:00') + number, 'bad_json', '{', 'api-errors', toUInt32(number % 6), 100000 + number, number + 1
FROM system.numbers LIMIT 40`,
		`INSERT INTO catalog (error_type, updated_at) SELECT concat('type_', toString(number)), toDateTime('2026-11-29 00:00:00') FROM system.numbers LIMIT 4`,
	} {
		if err := old.Conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db := testenv.ClickHouseCluster(t)
	if _, err := schema.MigrateOn(ctx, schema.Native(db.Conn), db.Database, schema.Options{Cluster: testCluster(db.Name), DDLTimeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	db.CopyFrom(t, old.Addr, old.Database, []string{"events", "quarantine", "catalog"},
		[]string{"events_local", "quarantine_local", "events_per_minute_local", "stored_offsets_local", "catalog"})
	for _, q := range []string{
		"SELECT count() FROM events",
		"SELECT sum(cityHash64(error_type, kafka_partition, kafka_offset, fingerprint, event_time)) FROM events",
		"SELECT count() FROM quarantine",
		"SELECT sum(events) FROM events_per_minute",
		"SELECT count() FROM stored_offsets",
		"SELECT sum(cityHash64(kafka_partition, kafka_offset, fingerprint)) FROM stored_offsets",
		"SELECT count() FROM catalog FINAL",
	} {
		var want, got uint64
		if err := old.Conn.QueryRow(ctx, q).Scan(&want); err != nil {
			t.Fatalf("old server: %s: %v", q, err)
		}
		if err := db.Conn.QueryRow(ctx, q).Scan(&got); err != nil {
			t.Fatalf("cluster: %s: %v", q, err)
		}
		if got != want || want == 0 {
			t.Errorf("%s: cluster %d, single server %d", q, got, want)
		}
	}
}
