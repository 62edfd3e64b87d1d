package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/schema"
)

// ClusterDB is a fresh database created ON CLUSTER on a Cluster, dropped ON CLUSTER
// when the test ends.
type ClusterDB struct {
	*Cluster
	Database string
	Conn     driver.Conn // to Nodes[0], using Database
}

// NewDatabase creates a database with a random name on every node.
func (c *Cluster) NewDatabase(t testing.TB) *ClusterDB {
	t.Helper()
	admin, err := openCH(c.Nodes[0].Addr, "default")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer admin.Close()
	db := "test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.DDLTimeout)
	defer cancel()
	// db is generated here from hex digits, so building the statement is safe.
	if err := admin.Exec(ctx, "CREATE DATABASE "+db+" ON CLUSTER "+c.Name); err != nil {
		t.Fatalf("testenv: create database %s on cluster %s: %v", db, c.Name, err)
	}
	conn, err := openCH(c.Nodes[0].Addr, db)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		a, err := openCH(c.Nodes[0].Addr, "default")
		if err != nil {
			t.Logf("testenv: drop database %s: %v", db, err)
			return
		}
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*c.DDLTimeout)
		defer cancel()
		// Scratch, like ClickHouse's: a node a test left down only leaves it behind.
		if err := a.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" ON CLUSTER "+c.Name); err != nil {
			t.Logf("testenv: drop database %s on cluster %s: %v", db, c.Name, err)
		}
	})
	return &ClusterDB{Cluster: c, Database: db, Conn: conn}
}

// NodeConn opens a connection to node i (an index into Nodes) using the database,
// closed at cleanup.
func (d *ClusterDB) NodeConn(t testing.TB, i int) driver.Conn {
	t.Helper()
	conn, err := openCH(d.Nodes[i].Addr, d.Database)
	if err != nil {
		t.Fatalf("testenv: node %s: %v", d.Nodes[i].Name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// SyncReplicas waits until every replica has fetched what any replica of its shard was
// given of the database's local tables (SYSTEM SYNC REPLICA on each node): reads
// through a Distributed table pick a replica at random, and replication is
// asynchronous.
func (d *ClusterDB) SyncReplicas(t testing.TB, tables ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, n := range d.Nodes {
		conn := d.NodeConn(t, i)
		for _, table := range tables {
			// table names come from the test, not from input.
			if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+table); err != nil {
				t.Fatalf("testenv: sync replica %s.%s on %s: %v", d.Database, table, n.Name, err)
			}
		}
	}
}

// CopyFrom copies tables of database on the single server at addr into the cluster
// database, through the Distributed tables (synchronously) with INSERT ... SELECT *
// FROM remote(), as a move of a single-server database to cluster mode would; then it
// waits for the replicas of the local tables named in sync.
func (d *ClusterDB) CopyFrom(t testing.TB, addr, database string, tables, sync []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	for _, table := range tables {
		// Names come from the test; addr and database are bound as string literals.
		q := "INSERT INTO " + d.Database + "." + table + " SELECT * FROM remote(?, ?, ?)"
		if err := d.Conn.Exec(ctx, q, addr, database, table); err != nil {
			t.Fatalf("testenv: copy %s.%s from %s into the cluster: %v", database, table, addr, err)
		}
	}
	d.SyncReplicas(t, sync...)
}

// DropUncommittedParts finds, on every node, active parts of the database's Replicated
// tables that ZooKeeper does not list for that replica, and restarts each node holding any,
// which detaches them; it returns what it found. 18.16 leaves such a part visible when an
// insert's commit to ZooKeeper has an unknown outcome (the session was lost during it): the
// client is told to repeat the insert, and the part is dropped by the replica's part check
// only some 5 minutes later. Until then that replica shows the block twice once the repeat
// is stored; its peer, which fetches committed parts only, does not.
func (d *ClusterDB) DropUncommittedParts(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var found []string
	for i, n := range d.Nodes {
		conn := d.NodeConn(t, i)
		rows, err := conn.Query(ctx, "SELECT table, replica_path FROM system.replicas WHERE database = ?", d.Database)
		if err != nil {
			t.Fatalf("testenv: replicas of %s on %s: %v", d.Database, n.Name, err)
		}
		paths := map[string]string{}
		for rows.Next() {
			var table, path string
			if err := rows.Scan(&table, &path); err != nil {
				t.Fatal(err)
			}
			paths[table] = path
		}
		rows.Close()
		orphans := 0
		for table, path := range paths {
			q := "SELECT name FROM system.parts WHERE database = ? AND table = ? AND active AND name NOT IN (SELECT name FROM system.zookeeper WHERE path = ?)"
			prows, err := conn.Query(ctx, q, d.Database, table, path+"/parts")
			if err != nil {
				t.Fatalf("testenv: parts of %s.%s on %s: %v", d.Database, table, n.Name, err)
			}
			for prows.Next() {
				var part string
				if err := prows.Scan(&part); err != nil {
					t.Fatal(err)
				}
				found = append(found, n.Name+":"+table+"/"+part)
				orphans++
			}
			prows.Close()
		}
		if orphans > 0 {
			n.Stop()
			n.Start(t)
			d.waitWritable(t, i)
		}
	}
	return found
}

// waitWritable waits until node i's Replicated tables are back in ZooKeeper's session (a
// restarted node starts them read-only).
func (d *ClusterDB) waitWritable(t testing.TB, i int) {
	t.Helper()
	conn := d.NodeConn(t, i)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var n uint64
		err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.replicas WHERE is_readonly OR is_session_expired").Scan(&n)
		cancel()
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: node %s still has read-only replicas a minute after its restart (%d, %v)", d.Nodes[i].Name, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Migrate applies faultline's migrations to the database, rendered for the cluster with the
// default ZooKeeper path and sharding key, and returns that schema.Cluster.
func (d *ClusterDB) Migrate(t testing.TB) schema.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := schema.Cluster{Name: d.Name, ZKPath: schema.DefaultZKPath, ShardingKey: schema.DefaultShardingKey()}
	if _, err := schema.MigrateOn(ctx, schema.Native(d.Conn), d.Database, schema.Options{Cluster: cl, DDLTimeout: 20 * time.Second}); err != nil {
		t.Fatalf("testenv: migrate %s on cluster %s: %v", d.Database, d.Name, err)
	}
	return cl
}
