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
	db.SyncReplicas(t, "events_local", "events_per_minute_local", "stored_offsets_local")
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
