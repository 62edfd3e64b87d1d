package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// shardInfo is one shard of a cluster as system.clusters describes it.
type shardInfo struct {
	num      int      // shard_num, 1-based
	weight   int      // shard_weight
	replicas []string // host:port (native protocol) of each replica, in replica_num order
}

// loadShards reads cluster's shards from system.clusters on conn.
func loadShards(ctx context.Context, conn driver.Conn, cluster string) ([]shardInfo, error) {
	rows, err := conn.Query(ctx, "SELECT shard_num, shard_weight, host_name, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num", cluster)
	if err != nil {
		return nil, fmt.Errorf("read cluster %s from system.clusters: %w", cluster, err)
	}
	defer rows.Close()
	var out []shardInfo
	for rows.Next() {
		var (
			num, weight uint32
			host        string
			port        uint16
		)
		if err := rows.Scan(&num, &weight, &host, &port); err != nil {
			return nil, fmt.Errorf("read cluster %s from system.clusters: %w", cluster, err)
		}
		if len(out) == 0 || out[len(out)-1].num != int(num) {
			out = append(out, shardInfo{num: int(num), weight: int(weight)})
		}
		s := &out[len(out)-1]
		s.replicas = append(s.replicas, net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cluster %s from system.clusters: %w", cluster, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the server knows no cluster %q (system.clusters; remote_servers in its config)", cluster)
	}
	return out, nil
}

// slotsOf maps a sharding key value to a shard the way a Distributed table does: each shard
// takes as many consecutive slots as its weight, in shard order, and a row goes to the shard
// of slot key % total weight.
func slotsOf(shards []shardInfo) []int {
	var slots []int
	for _, s := range shards {
		for range max(s.weight, 0) {
			slots = append(slots, s.num)
		}
	}
	return slots
}

// placer tells which shard holds a Kafka partition's rows: the server evaluates the
// Distributed tables' sharding key for the partition's topic and number (the same
// expression, over the same column types), and the slots turn its value into a shard.
type placer struct {
	conns   []driver.Conn // asked in turn: the main connection, then each shard's
	cluster string
	key     string // the sharding key, an expression of kafka_topic and kafka_partition
	slots   []int
}

// shardOf returns the shard_num that holds topic/partition.
func (p *placer) shardOf(ctx context.Context, topic string, partition int) (int, error) {
	if len(p.slots) == 0 {
		return 0, fmt.Errorf("cluster %s has no shard with a weight", p.cluster)
	}
	// The key comes from the operator's config (clickhouse.sharding_key), never from messages;
	// the topic and partition are bound. The casts give the columns the events table's types.
	q := "SELECT toUInt64(" + p.key + ") FROM (SELECT CAST(? AS String) AS kafka_topic, CAST(? AS UInt32) AS kafka_partition)"
	var errs []error
	for _, c := range p.conns {
		var v uint64
		if err := c.QueryRow(ctx, q, topic, uint32(partition)).Scan(&v); err != nil {
			errs = append(errs, err)
			continue
		}
		return p.slots[v%uint64(len(p.slots))], nil
	}
	return 0, fmt.Errorf("evaluate sharding key %s for %s/%d: %w", p.key, topic, partition, errors.Join(errs...))
}

// shardSink returns a Sink like s that writes one shard: over conn (the shard's replicas;
// replicas has one connection to each, for reads that must stay on one server),
// inserting into the Distributed tables (synchronously, so an insert returns once the shard
// has the block) or straight into the shard's local tables, and reading back (verify, skip
// read) from the shard's local tables. Reading the shard that holds the partition, never
// the Distributed table, keeps the answer right while another shard is down: a Distributed
// read would fail then, or with skip_unavailable_shards quietly answer "nothing stored" for
// a shard that cannot answer.
func (s *Sink) shardSink(conn driver.Conn, replicas []driver.Conn, shard int, local func(table string) string, viaDistributed bool) *Sink {
	c := &Sink{conn: conn, replicas: replicas, db: s.db, log: s.log, m: s.m, free: make(chan *batchBufs, keptBuffers), reread: s.reread, retry: s.retry, timeout: s.timeout, window: s.window,
		dedupToken: s.dedupToken, shard: shardName(shard), replicated: true,
		insertSQL: map[string]string{}, readTable: map[string]string{}}
	for _, t := range []string{tableEvents, tableQuarantine, tableStoredOffsets} {
		c.readTable[t] = local(t)
	}
	c.rollupTable = local(tableRollup)
	c.checkViews = !viaDistributed
	for t, cols := range map[string][]string{tableEvents: eventColumns, tableQuarantine: quarantineColumns} {
		if viaDistributed {
			c.insertSQL[t] = insertStatement(s.db, t, cols)
		} else {
			c.insertSQL[t] = insertStatement(s.db, local(t), cols)
		}
	}
	if viaDistributed {
		c.settings = clickhouse.Settings{"insert_distributed_sync": 1}
	}
	return c
}
