package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/loadgen"
)

const clusterShardingKey = "cityHash64(kafka_topic, kafka_partition)"

// clusterSchema creates the ingester's tables on the cluster: Replicated local tables per
// shard, the views on each shard, Distributed tables over them sharded by topic and partition.
//
// TODO(clusterfaults): replace by the cluster branch's schema.Migrate for clusters once it
// lands; this is the same shape, written out for the pipeline tests meanwhile.
func clusterSchema(t *testing.T, db *testenv.ClusterDB) {
	t.Helper()
	c, d := db.Name, db.Database
	repl := func(table string) string {
		return fmt.Sprintf("ReplicatedMergeTree('/clickhouse/tables/{shard}/%s/%s', '{replica}')", d, table)
	}
	stmts := []string{
		`CREATE TABLE ${db}.events_local ON CLUSTER ${c} (
    event_time DateTime, event_time_ms UInt16, status_code UInt16, error_type LowCardinality(String),
    request_id String, error_message LowCardinality(String), error_url LowCardinality(String),
    environment LowCardinality(String), category LowCardinality(String), actor LowCardinality(String),
    known UInt8, flags Array(String), method LowCardinality(String), path String, project_id String,
    organization_id String, member_id String, client String, region LowCardinality(String),
    latency_ms Nullable(Float64), attr_keys Array(String), attr_values Array(String),
    catalog_version LowCardinality(String), kafka_topic LowCardinality(String), kafka_partition UInt32,
    kafka_offset UInt64, kafka_time DateTime, ingested_at DateTime, insert_id UInt64, fingerprint UInt64 DEFAULT 0
) ENGINE = ` + repl("events_local") + ` PARTITION BY toYYYYMMDD(event_time) ORDER BY (error_type, event_time)`,
		`CREATE TABLE ${db}.quarantine_local ON CLUSTER ${c} (
    received_at DateTime, reason LowCardinality(String), detail String, payload String, payload_bytes UInt32,
    kafka_topic LowCardinality(String), kafka_partition UInt32, kafka_offset UInt64, kafka_time DateTime,
    kafka_key String, insert_id UInt64, fingerprint UInt64 DEFAULT 0
) ENGINE = ` + repl("quarantine_local") + ` PARTITION BY toYYYYMMDD(received_at) ORDER BY (reason, received_at)`,
		`CREATE TABLE ${db}.events_per_minute_local ON CLUSTER ${c} (
    minute DateTime, error_type LowCardinality(String), category LowCardinality(String),
    environment LowCardinality(String), status_code UInt16, known UInt8, events UInt64
) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/${db}/events_per_minute_local', '{replica}', events)
PARTITION BY toYYYYMM(minute) ORDER BY (minute, error_type, category, environment, status_code, known)`,
		`CREATE MATERIALIZED VIEW ${db}.events_per_minute_mv ON CLUSTER ${c} TO ${db}.events_per_minute_local AS
SELECT toStartOfMinute(event_time) AS minute, error_type, category, environment, status_code, known, count() AS events
FROM ${db}.events_local GROUP BY minute, error_type, category, environment, status_code, known`,
		`CREATE TABLE ${db}.stored_offsets_local ON CLUSTER ${c} (
    kafka_topic LowCardinality(String), kafka_partition UInt32, kafka_offset UInt64, fingerprint UInt64, stored_at DateTime
) ENGINE = ` + repl("stored_offsets_local") + ` PARTITION BY toYYYYMMDD(stored_at) ORDER BY (kafka_topic, kafka_partition, kafka_offset)`,
		`CREATE MATERIALIZED VIEW ${db}.events_offsets_mv ON CLUSTER ${c} TO ${db}.stored_offsets_local AS
SELECT kafka_topic, kafka_partition, kafka_offset, fingerprint, ingested_at AS stored_at FROM ${db}.events_local`,
		`CREATE MATERIALIZED VIEW ${db}.quarantine_offsets_mv ON CLUSTER ${c} TO ${db}.stored_offsets_local AS
SELECT kafka_topic, kafka_partition, kafka_offset, fingerprint, received_at AS stored_at FROM ${db}.quarantine_local`,
	}
	for _, t := range []string{"events", "quarantine", "stored_offsets"} {
		stmts = append(stmts, "CREATE TABLE ${db}."+t+" ON CLUSTER ${c} AS ${db}."+t+"_local ENGINE = Distributed(${c}, ${db}, "+t+"_local, "+clusterShardingKey+")")
	}
	// Only read: the view on each shard fills the local tables.
	stmts = append(stmts, "CREATE TABLE ${db}.events_per_minute ON CLUSTER ${c} AS ${db}.events_per_minute_local ENGINE = Distributed(${c}, ${db}, events_per_minute_local, rand())")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range stmts {
		s = strings.NewReplacer("${db}", d, "${c}", c).Replace(s)
		if err := db.Conn.Exec(ctx, s); err != nil {
			t.Fatalf("cluster schema: %v\n%s", err, s)
		}
	}
}

// newClusterHarness is a harness whose ClickHouse is the 2x2 test cluster with the schema
// above, written shard by shard through the Distributed tables.
func newClusterHarness(t *testing.T, partitions int) (*harness, *testenv.ClusterDB) {
	t.Helper()
	topic := "api-errors"
	b := testenv.Broker(t, topic, partitions)
	db := testenv.ClickHouseCluster(t)
	clusterSchema(t, db)
	h := &harness{t: t, broker: b.Addr, brokerCluster: b.Cluster, topic: topic,
		ch: &testenv.CH{Addr: db.Nodes[0].Addr, Database: db.Database, Conn: db.Conn}, cat: mustCatalog(t), written: loadgen.NewExpected()}
	h.cluster = &ClusterConfig{Name: db.Name, ShardingKey: clusterShardingKey,
		LocalTable: func(t string) string { return t + "_local" },
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
func TestClusterShardDown(t *testing.T) {
	h, db := newClusterHarness(t, 6)
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
		n.Start(t)
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
