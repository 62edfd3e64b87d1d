package replay_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/kafkaconn"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/replay"
)

// TestReplayOnCluster on kfake and the 2x2 cluster: a replay of the whole topic under a group
// of its own, into the cluster tables that hold it, stores nothing new (each shard's skip read
// finds its partitions' messages), and every offset is stored once on both shards' replicas.
func TestReplayOnCluster(t *testing.T) {
	ctx := context.Background()
	const topic, partitions, n = "api-errors", 4, 400
	b := testenv.Broker(t, topic, partitions)
	db := testenv.ClickHouseCluster(t)
	cl := db.Migrate(t)
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	testenv.ProduceBodies(t, b.Addr, topic, n)

	kc, err := kafkaconn.New(config.Kafka{Brokers: []string{b.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(group string, stopAt map[string]map[int]int64) pipeline.Summary {
		t.Helper()
		cfg := testConfig(b.Addr, topic, group, db.Database)
		cfg.Writer.Retry.MaxBackoff, cfg.Writer.Retry.FatalBackoff = 2*time.Second, 2*time.Second
		cfg.Cluster = &pipeline.ClusterConfig{Name: db.Name, ShardingKey: cl.ShardingExpr(), LocalTable: cl.LocalTable,
			Connect: func(ctx context.Context, addrs []string) (driver.Conn, error) {
				return clickhouse.Open(&clickhouse.Options{Addr: addrs, Auth: clickhouse.Auth{Database: db.Database, Username: "default"},
					DialTimeout: 2 * time.Second, MaxOpenConns: 4})
			}}
		in, err := pipeline.New(cfg, event.NewChecker(cat, event.Options{}), db.Conn, kc, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		sum, err := in.Run(rctx, pipeline.RunOptions{Drain: true, StopAt: stopAt})
		if err != nil {
			t.Fatalf("run %s: %v", group, err)
		}
		return sum
	}
	if sum := run("main", nil); sum.Stored != n {
		t.Fatalf("first read %+v, want %d stored", sum, n)
	}

	client := kc.Client(10 * time.Second)
	all, err := replay.MakePlan(ctx, client, replay.Range{Topics: []string{topic}, From: replay.Bound{Offset: -1}, To: replay.Bound{Offset: -1}})
	if err != nil || all.Messages() != n {
		t.Fatalf("plan %+v, %v: want %d messages", all, err, n)
	}
	if err := replay.Commit(ctx, client, "main-replay", all); err != nil {
		t.Fatal(err)
	}
	if sum := run("main-replay", all.To); sum.Stored != 0 || sum.Skipped != n {
		t.Fatalf("replay into the same cluster tables %+v, want 0 stored and %d skipped", sum, n)
	}

	db.SyncReplicas(t, "events_local")
	for i, node := range db.Nodes {
		var rows, offsets uint64
		if err := db.NodeConn(t, i).QueryRow(ctx, "SELECT count(), uniqExact(kafka_partition, kafka_offset) FROM events_local").Scan(&rows, &offsets); err != nil {
			t.Fatal(err)
		}
		if rows == 0 || rows != offsets {
			t.Errorf("%s (shard %d): %d rows on %d offsets, want some, each once", node.Name, node.Shard, rows, offsets)
		}
	}
	if got := testenv.QueryInt(t, db.Conn, "SELECT uniqExact(kafka_partition, kafka_offset) FROM events"); got != n {
		t.Fatalf("%d distinct offsets in the cluster's events, want %d", got, n)
	}
	if got := testenv.QueryInt(t, db.Conn, "SELECT count() FROM events"); got != n {
		t.Fatalf("%d events in the cluster, want %d", got, n)
	}
}
