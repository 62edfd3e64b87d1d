package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// lane is one independent chain of batcher, writer and committer with its own budget: a
// single server has one, a cluster one per shard. Every row of a Kafka partition goes
// through the lane of the shard that holds the partition (see shards.go), so a batch never
// spans shards: a shard that is down fails only its own inserts, and only its partitions'
// commits wait while the other lanes go on.
type lane struct {
	name    string // "" on a single server, else "shard N"
	shard   int    // 1-based shard number (system.clusters shard_num); 0 on a single server
	sink    *Sink
	budget  *budget
	items   chan item
	batches chan *pending
}

func newLane(name string, shard int, sink *Sink, b *budget) *lane {
	return &lane{name: name, shard: shard, sink: sink, budget: b,
		items: make(chan item, 4096), batches: make(chan *pending, 1)}
}

// lanes routes partitions to lanes: by shard on a cluster, all to one lane otherwise. The
// shard of a partition is asked of the server once and kept.
type lanes struct {
	all    []*lane
	placer *placer // nil on a single server

	mu      sync.Mutex
	byTopic map[tp]*lane
}

// laneOf returns the lane of topic/partition, waiting (with backoff, counted) while the
// server cannot say which shard holds it.
func (in *Ingester) laneOf(ctx context.Context, topic string, partition int) (*lane, error) {
	ls := in.lanes
	if ls.placer == nil {
		return ls.all[0], nil
	}
	ls.mu.Lock()
	l, ok := ls.byTopic[tp{topic, partition}]
	ls.mu.Unlock()
	if ok {
		return l, nil
	}
	for attempt := 0; ; attempt++ {
		shard, err := ls.placer.shardOf(ctx, topic, partition)
		if err == nil {
			for _, l := range ls.all {
				if l.shard == shard {
					ls.mu.Lock()
					ls.byTopic[tp{topic, partition}] = l
					ls.mu.Unlock()
					return l, nil
				}
			}
			return nil, fmt.Errorf("partition %s/%d maps to shard %d, which cluster %s does not have", topic, partition, shard, ls.placer.cluster)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		in.sourceM.KafkaErrors.WithLabelValues("shard_of").Inc()
		in.log.Warn("cannot ask ClickHouse which shard holds a partition; partition waits", "topic", topic, "partition", partition, "error", err)
		if sleep(ctx, ls.all[0].sink.backoff(classify(err), attempt)) != nil {
			return nil, ctx.Err()
		}
	}
}

func shardName(n int) string { return "shard " + strconv.Itoa(n) }

// clusterLanes makes one lane per shard of the cluster: a Sink over a connection to the
// shard's replicas and an equal share of the in-flight budget, so that a shard that is down
// holds at most its share while the others go on. Every share reports into bm.
func (in *Ingester) clusterLanes(ctx context.Context, sink *Sink, c *ClusterConfig, bm *budgetMetrics) error {
	if cols := shardingColumnsOutsidePartition(c.ShardingKey); len(cols) > 0 {
		return fmt.Errorf("cluster %s: the sharding key %s uses %v, which spreads one Kafka partition over several shards; the ingester needs kafka_topic and kafka_partition only", c.Name, c.ShardingKey, cols)
	}
	shards, err := loadShards(ctx, in.conn, c.Name)
	if err != nil {
		return err
	}
	in.lanes = &lanes{byTopic: map[tp]*lane{},
		placer: &placer{conns: []driver.Conn{in.conn}, cluster: c.Name, key: c.ShardingKey, slots: slotsOf(shards)}}
	share := max(in.cfg.Batch.MaxInflightBytes/len(shards), 1)
	for _, sh := range shards {
		conn, err := c.Connect(ctx, sh.replicas)
		if err != nil {
			_ = in.Close()
			return fmt.Errorf("connect to shard %d of cluster %s (%v): %w", sh.num, c.Name, sh.replicas, err)
		}
		in.shardConns = append(in.shardConns, conn)
		in.lanes.placer.conns = append(in.lanes.placer.conns, conn)
		// One connection per replica besides: what must be read on one server (sync a
		// replica, then read it) cannot go through a pool that picks the server.
		var replicas []driver.Conn
		for _, addr := range sh.replicas {
			rc, err := c.Connect(ctx, []string{addr})
			if err != nil {
				_ = in.Close()
				return fmt.Errorf("connect to replica %s of shard %d of cluster %s: %w", addr, sh.num, c.Name, err)
			}
			in.shardConns = append(in.shardConns, rc)
			replicas = append(replicas, rc)
		}
		in.lanes.all = append(in.lanes.all, newLane(shardName(sh.num), sh.num,
			sink.shardSink(conn, replicas, sh.num, c.LocalTable, c.ViaDistributed), newBudget(share, bm)))
	}
	in.log.Info("writing to a ClickHouse cluster, one lane per shard", "cluster", c.Name, "shards", len(shards),
		"via_distributed", c.ViaDistributed, "sharding_key", c.ShardingKey)
	return nil
}

// shardingColumnsOutsidePartition returns the columns of key, among those a sharding key may
// use, that vary within one Kafka partition.
func shardingColumnsOutsidePartition(key string) []string {
	var out []string
	for _, col := range []string{"kafka_offset", "fingerprint"} {
		if strings.Contains(key, col) {
			out = append(out, col)
		}
	}
	return out
}
