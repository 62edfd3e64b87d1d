package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// The shared cluster has 2 shards x 2 replicas that see each other, ZooKeeper, the
// low DDL timeout, and Replicated tables that replicate.
func TestClusterShape(t *testing.T) {
	start := time.Now()
	db := testenv.ClickHouseCluster(t)
	t.Logf("cluster and database ready in %s", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var hosts uint64
	if err := db.Conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ?", db.Name).Scan(&hosts); err != nil {
		t.Fatalf("system.clusters: %v", err)
	}
	if hosts != testenv.ClusterShards*testenv.ClusterReplicas {
		t.Errorf("cluster %s has %d hosts, want %d", db.Name, hosts, testenv.ClusterShards*testenv.ClusterReplicas)
	}
	var timeout string
	if err := db.Conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'distributed_ddl_task_timeout'").Scan(&timeout); err != nil {
		t.Fatalf("system.settings: %v", err)
	}
	if timeout != "10" {
		t.Errorf("distributed_ddl_task_timeout = %s, want 10", timeout)
	}
	for i, n := range db.Nodes {
		var shard, replica string
		c := db.NodeConn(t, i)
		if err := c.QueryRow(ctx, "SELECT anyIf(substitution, macro = 'shard'), anyIf(substitution, macro = 'replica') FROM system.macros").Scan(&shard, &replica); err != nil {
			t.Fatalf("node %s macros: %v", n.Name, err)
		}
		if replica != n.Name || shard != "0"+string(rune('0'+n.Shard)) {
			t.Errorf("node %s: macros shard=%s replica=%s", n.Name, shard, replica)
		}
	}

	if err := db.Conn.Exec(ctx, "CREATE TABLE t ON CLUSTER "+db.Name+
		" (x UInt64) ENGINE = ReplicatedMergeTree('/test/{shard}/"+db.Database+"/t', '{replica}') ORDER BY x"); err != nil {
		t.Fatalf("create replicated table: %v", err)
	}
	if err := db.Conn.Exec(ctx, "INSERT INTO t SELECT number FROM system.numbers LIMIT 10"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	// The other replica of shard 1 gets the rows; shard 2 does not.
	want := map[int]uint64{0: 10, 1: 10, 2: 0, 3: 0}
	for i, w := range want {
		c := db.NodeConn(t, i)
		if err := c.Exec(ctx, "SYSTEM SYNC REPLICA t"); err != nil {
			t.Fatalf("sync replica on %s: %v", db.Nodes[i].Name, err)
		}
		var n uint64
		if err := c.QueryRow(ctx, "SELECT count() FROM t").Scan(&n); err != nil {
			t.Fatalf("count on %s: %v", db.Nodes[i].Name, err)
		}
		if n != w {
			t.Errorf("node %s has %d rows, want %d", db.Nodes[i].Name, n, w)
		}
	}
}
