package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
)

// Replicated tables drop a block they already hold: the same batch, encoded by the
// sink's own columns with the same insert id and commit time, is stored once whether
// it is sent twice to one replica, to both replicas of a shard, or twice through the
// Distributed table with synchronous inserts. A block that differs only in insert_id
// is a new block: a retry must send the same id to be deduplicated.
func TestClusterRetriedBlockIsDeduplicated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := testenv.ClickHouseCluster(t)
	db.Migrate(t)
	at := time.Date(2026, 11, 29, 10, 0, 30, 0, time.UTC)
	rowsOf := func(topic string, partitions, perPartition int) []*Row {
		var out []*Row
		for p := range partitions {
			for o := range perPartition {
				r := &Row{Topic: topic, Partition: int32(p), Offset: int64(o), KafkaTime: at, Accepted: true,
					Event: event.Event{Time: at.Add(-time.Duration(o) * time.Second), StatusCode: 400, ErrorType: "billing_not_verified",
						RequestID: "req", Environment: "production", Category: "billing", Actor: "user"}}
				r.fingerprint = uint64(1000*p + o + 1)
				out = append(out, r)
			}
		}
		return out
	}
	send := func(conn driver.Conn, table string, rows []*Row, id uint64) {
		t.Helper()
		sctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
		b, err := conn.PrepareBatch(sctx, insertStatement(db.Database, table, eventColumns))
		if err != nil {
			t.Fatalf("prepare insert into %s: %v", table, err)
		}
		for i, c := range eventColumnsOf(rows, id, at) {
			if err := b.Column(i).Append(c); err != nil {
				t.Fatalf("column %s: %v", eventColumns[i], err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatalf("insert into %s: %v", table, err)
		}
	}
	count := func(q string, args ...any) uint64 {
		t.Helper()
		var n uint64
		if err := db.Conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	shard1 := db.ShardNodes(1)
	r1, r2 := db.NodeConn(t, indexOfNode(db, shard1[0])), db.NodeConn(t, indexOfNode(db, shard1[1]))

	// Directly into shard 1's local table: twice on one replica, once more on the other.
	direct := rowsOf("direct", 2, 20)
	send(r1, "events_local", direct, 1)
	send(r1, "events_local", direct, 1)
	send(r2, "events_local", direct, 1)
	// Through the Distributed table, the rows spread over both shards.
	spread := rowsOf("spread", 8, 10)
	send(db.Conn, "events", spread, 2)
	send(db.Conn, "events", spread, 2)
	// The same rows under another insert id: a different block, stored again.
	other := rowsOf("other", 3, 5)
	send(db.Conn, "events", other, 3)
	send(db.Conn, "events", other, 4)
	db.SyncReplicas(t, "events_local", "events_per_minute_local", "stored_offsets_local")

	for _, tc := range []struct {
		topic string
		want  uint64
	}{{"direct", 40}, {"spread", 80}, {"other", 30}} {
		if got := count("SELECT count() FROM events WHERE kafka_topic = ?", tc.topic); got != tc.want {
			t.Errorf("%s: %d rows in events, want %d", tc.topic, got, tc.want)
		}
		// The views were fed each stored block once: a deduplicated block feeds none.
		if got := count("SELECT count() FROM stored_offsets WHERE kafka_topic = ?", tc.topic); got != tc.want {
			t.Errorf("%s: %d rows in stored_offsets, want %d", tc.topic, got, tc.want)
		}
	}
	if got := count("SELECT sum(events) FROM events_per_minute"); got != 150 {
		t.Errorf("rollup counts %d events, want 150", got)
	}
	// Both shards hold some of the spread rows, each partition on one shard only.
	var shards uint64
	for _, n := range db.Nodes {
		if n.Replica != 1 {
			continue
		}
		var c uint64
		if err := db.NodeConn(t, indexOfNode(db, n)).QueryRow(ctx, "SELECT count() FROM events_local WHERE kafka_topic = 'spread'").Scan(&c); err != nil {
			t.Fatal(err)
		}
		if c > 0 {
			shards++
		}
	}
	if shards != 2 {
		t.Errorf("spread rows on %d shards, want 2", shards)
	}
}

func indexOfNode(db *testenv.ClusterDB, n *testenv.Node) int {
	for i, m := range db.Nodes {
		if m == n {
			return i
		}
	}
	return -1
}
