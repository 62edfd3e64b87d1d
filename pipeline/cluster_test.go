package pipeline

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/loadgen"
)

// newClusterHarness is a harness whose ClickHouse is the 2x2 test cluster with the schema
// above, written shard by shard through the Distributed tables.
func newClusterHarness(t *testing.T, partitions int) (*harness, *testenv.ClusterDB) {
	t.Helper()
	topic := "api-errors"
	b := testenv.Broker(t, topic, partitions)
	db := testenv.ClickHouseCluster(t)
	cl := db.Migrate(t)
	h := &harness{t: t, broker: b.Addr, brokerCluster: b.Cluster, topic: topic,
		ch: &testenv.CH{Addr: db.Nodes[0].Addr, Database: db.Database, Conn: db.Conn}, cat: mustCatalog(t), written: loadgen.NewExpected()}
	h.clusterDB = db
	h.cluster = &ClusterConfig{Name: db.Name, ShardingKey: cl.ShardingExpr(), LocalTable: cl.LocalTable,
		Connect: func(ctx context.Context, addrs []string) (driver.Conn, error) {
			return clickhouse.Open(&clickhouse.Options{Addr: addrs, Auth: clickhouse.Auth{Database: db.Database, Username: "default"},
				DialTimeout: 2 * time.Second, MaxOpenConns: 4})
		}}
	return h, db
}

// shardsOfPartitions asks each shard which partitions' rows it holds.
func shardsOfPartitions(t *testing.T, db *testenv.ClusterDB) map[int][]int {
	t.Helper()
	out := map[int][]int{}
	for i, n := range db.Nodes {
		if n.Replica != 1 {
			continue
		}
		rows, err := db.NodeConn(t, i).Query(context.Background(), "SELECT DISTINCT kafka_partition FROM "+db.Database+".events_local ORDER BY kafka_partition")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p uint32
			if err := rows.Scan(&p); err != nil {
				t.Fatal(err)
			}
			out[n.Shard] = append(out[n.Shard], int(p))
		}
		rows.Close()
	}
	return out
}

// The ingester's placement agrees with the Distributed table's: each partition's rows are on
// the shard the sharding key names, and every message is stored once.
func TestClusterPlacement(t *testing.T) {
	h, db := newClusterHarness(t, 6)
	h.produce(41, 3000, nil)
	inst, sum := h.drain("cluster-placement")
	if sum.Stored+sum.Quarantined != 3000 {
		t.Fatalf("summary %+v", sum)
	}
	h.assertExactlyOnce()
	placed := shardsOfPartitions(t, db)
	seen := map[int]bool{}
	for shard, parts := range placed {
		for _, p := range parts {
			if seen[p] {
				t.Fatalf("partition %d on more than one shard: %v", p, placed)
			}
			seen[p] = true
			want, err := inst.in.lanes.placer.shardOf(context.Background(), h.topic, p)
			if err != nil {
				t.Fatal(err)
			}
			if want != shard {
				t.Errorf("partition %d stored on shard %d, the ingester's lane is shard %d", p, shard, want)
			}
		}
	}
	if len(placed) != 2 || len(seen) != 6 {
		t.Fatalf("partitions by shard %v, want all 6 over both shards", placed)
	}
}

// A whole shard down (both replicas killed): inserts for its partitions wait, the other
// shard's partitions go on being stored and committed, and once the shard is back nothing is
// lost or doubled.
//
// Both ways of inserting: into each shard's local tables, and through the Distributed tables
// (synchronous), where 18.16 fails every insert while any shard is down, even one whose rows
// all went to a shard that is up: the verify read finds them stored and the batch is done.
func TestClusterShardDown(t *testing.T) {
	for _, via := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "distributed"}[via]
		t.Run(name, func(t *testing.T) { testClusterShardDown(t, via) })
	}
}

func testClusterShardDown(t *testing.T, viaDistributed bool) {
	h, db := newClusterHarness(t, 6)
	h.cluster.ViaDistributed = viaDistributed
	cfg := h.config("cluster-shard-down")
	inst := h.newIngester(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	stop := runInBackground(ctx, cancel, inst)
	defer stop()

	shardOf := map[int]int{}
	for p := range 6 {
		s, err := inst.in.lanes.placer.shardOf(ctx, h.topic, p)
		if err != nil {
			t.Fatal(err)
		}
		shardOf[p] = s
	}
	kc := &kafka.Client{Addr: kafka.TCP(h.broker), Timeout: 5 * time.Second, Transport: &kafka.Transport{}}
	lagByShard := func() map[int]int64 {
		out := map[int]int64{1: 0, 2: 0}
		ends, com := partitionOffsets(t, kc, "cluster-shard-down", h.topic, 6)
		for p, e := range ends {
			out[shardOf[p]] += e - com[p]
		}
		return out
	}
	h.produce(42, 6000, nil)
	waitFor(t, time.Minute, "the backlog stored", func() bool { l := lagByShard(); return l[1]+l[2] == 0 })

	for _, n := range db.ShardNodes(2) {
		n.Kill()
	}
	down := time.Now()
	h.produce(43, 6000, nil)
	// Shard 1's partitions are committed to their end while shard 2 is down; shard 2's wait.
	waitFor(t, time.Minute, "shard 1's partitions caught up", func() bool { return lagByShard()[1] == 0 })
	if l := lagByShard(); l[2] == 0 {
		t.Fatalf("shard 2 down, yet its partitions have nothing uncommitted: %v", l)
	}
	time.Sleep(max(testenv.ClusterZKSessionTimeout+time.Second-time.Since(down), 0))
	waiting := lagByShard()[2]
	for _, n := range db.ShardNodes(2) {
		startAfterKill(t, n)
	}
	waitFor(t, 2*time.Minute, "shard 2's partitions caught up", func() bool { l := lagByShard(); return l[1]+l[2] == 0 })
	causes := 0.0
	for _, c := range []string{"connection", "shard_unavailable", "timeout", "other"} {
		causes += testutil.ToFloat64(inst.m.RetryCauses.WithLabelValues("events", c))
	}
	if causes == 0 {
		t.Errorf("no insert retry counted by cause while shard 2 was down")
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	clusterSettled(t, db)
	h.assertExactlyOnce()
	t.Logf("shard 2 down %s; shard 1's partitions caught up meanwhile, shard 2's held %d messages uncommitted; retries by cause %v",
		time.Since(down).Round(100*time.Millisecond), waiting, causes)
}

// partitionOffsets returns each partition's end offset and group's committed offset.
func partitionOffsets(t *testing.T, kc *kafka.Client, group, topic string, partitions int) (ends, committed map[int]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	var parts []int
	for p := range partitions {
		parts = append(parts, p)
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	lo, err := kc.ListOffsets(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ends, committed = map[int]int64{}, map[int]int64{}
	for _, po := range lo.Topics[topic] {
		ends[po.Partition] = po.LastOffset
	}
	of, err := kc.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range of.Topics[topic] {
		committed[p.Partition] = max(p.CommittedOffset, 0)
	}
	return ends, committed
}

// runInBackground runs inst until stop is called; stop cancels, waits and returns Run's error
// (the same error on every call).
func runInBackground(ctx context.Context, cancel context.CancelFunc, inst *instance) (stop func() error) {
	done := make(chan struct{})
	var err error
	go func() { defer close(done); _, err = inst.in.Run(ctx, RunOptions{}) }()
	return func() error { cancel(); <-done; return err }
}

// The skip read answers from a replica that has every part its peer was given: with
// replica 2 of shard 1 not fetching, rows a previous owner stored through replica 1 are
// still found, and a shard whose only readable replica lags gives no answer (the partition
// waits) rather than "nothing stored".
func TestClusterSkipReadSyncsTheReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, r1, r2 := laggingShard(ctx, t, "stored_offsets_local")
	ins, err := r1.PrepareBatch(ctx, "INSERT INTO "+db.Database+".stored_offsets_local (kafka_topic, kafka_partition, kafka_offset, fingerprint, stored_at)")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	for o := range 100 {
		if err := ins.Append("api-errors", uint32(0), uint64(o), uint64(o+1), at); err != nil {
			t.Fatal(err)
		}
	}
	if err := ins.Send(); err != nil {
		t.Fatal(err)
	}
	if n := testenv.QueryInt(t, r2, "SELECT toUInt64(count()) FROM "+db.Database+".stored_offsets_local"); n != 0 {
		t.Fatalf("replica 2 fetched %d rows with fetches stopped", n)
	}

	local := func(table string) string { return table + "_local" }
	base, err := newSink(ctx, r1, WriterConfig{Database: db.Database, InsertTimeout: 2 * time.Second,
		Retry: RetryConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}}, newWriterMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// The lagging replica first: a read that does not sync it answers "nothing stored".
	sink := base.shardSink(r2, []driver.Conn{r2, r1}, 1, local, false)
	set, err := sink.storedOffsets(ctx, "api-errors", 0, 0)
	if err != nil {
		t.Fatalf("skip read: %v", err)
	}
	if set.len() != 100 {
		t.Fatalf("skip read found %d stored offsets, want 100", set.len())
	}
	lagging := base.shardSink(r2, []driver.Conn{r2}, 1, local, false)
	if set, err := lagging.storedOffsets(ctx, "api-errors", 0, 0); err == nil {
		t.Fatalf("skip read on a replica that cannot sync answered %d stored offsets, want an error", set.len())
	}
}

// laggingShard is a cluster database with the schema whose shard 1 has replica 2 not
// fetching table: it returns both replicas' connections.
func laggingShard(ctx context.Context, t *testing.T, table string) (db *testenv.ClusterDB, r1, r2 driver.Conn) {
	t.Helper()
	db = testenv.ClickHouseCluster(t)
	db.Migrate(t)
	nodes := db.ShardNodes(1)
	r1, r2 = db.NodeConn(t, indexOfNode(db, nodes[0])), db.NodeConn(t, indexOfNode(db, nodes[1]))
	if err := r2.Exec(ctx, "SYSTEM STOP FETCHES "+db.Database+"."+table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r2.Exec(context.Background(), "SYSTEM START FETCHES "+db.Database+"."+table) })
	return db, r1, r2
}
