package requeue_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/requeue"
)

// TestRequeueOnCluster: on the 2x2 cluster, quarantined messages of partitions on both shards
// move to events once (through the Distributed tables) and leave every replica's quarantine;
// a second run finds only the message that is still rejected.
func TestRequeueOnCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := testenv.ClickHouseCluster(t)
	cl := db.Migrate(t)
	cat, err := catalog.Load(filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	checker := event.NewChecker(cat, event.Options{MaxMessageBytes: 64 << 10})
	sink, err := pipeline.NewDistributedSink(ctx, db.Conn, pipeline.WriterConfig{Database: db.Database, InsertTimeout: 30 * time.Second,
		Retry: pipeline.RetryConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, FatalBackoff: 100 * time.Millisecond}},
		prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	// Eight partitions: the sharding key puts some on each shard. Each gets a message that
	// now passes (quarantined as too_large under an older limit); partition 0 also one that
	// is still not JSON.
	received := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	const partitions = 8
	sync := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	q, err := db.Conn.PrepareBatch(sync, "INSERT INTO quarantine (received_at, reason, detail, payload, payload_bytes, kafka_topic, kafka_partition, kafka_offset, kafka_time, kafka_key, insert_id)")
	if err != nil {
		t.Fatal(err)
	}
	add := func(reason, payload string, partition uint32, offset uint64) {
		t.Helper()
		if err := q.Append(received, reason, "", payload, uint32(len(payload)), "api-errors", partition, offset, received, "", uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	for p := range uint32(partitions) {
		add("too_large", fmt.Sprintf(`{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-%012d","error_type":"billing_not_verified","error_message":"%s"}`, p, strings.Repeat("x", 3000)), p, 10)
	}
	add("not_json_object", "not json", 0, 11)
	if err := q.Send(); err != nil {
		t.Fatal(err)
	}
	local := []string{"events_local", "quarantine_local", "stored_offsets_local"}
	db.SyncReplicas(t, local...)
	perShard := func(table string) [2]uint64 {
		t.Helper()
		var out [2]uint64
		for i, n := range db.Nodes {
			var c uint64
			if err := db.NodeConn(t, i).QueryRow(ctx, "SELECT count() FROM "+table).Scan(&c); err != nil {
				t.Fatal(err)
			}
			if n.Replica > 1 && c != out[n.Shard-1] {
				t.Fatalf("%s: replicas of shard %d disagree: %d and %d", table, n.Shard, out[n.Shard-1], c)
			}
			out[n.Shard-1] = c
		}
		return out
	}
	before := perShard("quarantine_local")
	if before[0] == 0 || before[1] == 0 || before[0]+before[1] != partitions+1 {
		t.Fatalf("quarantine per shard %v: want rows on both shards, %d in all", before, partitions+1)
	}

	opts := requeue.Options{Since: received.Add(-time.Minute), Cluster: cl}
	res, err := requeue.Run(ctx, db.Conn, db.Database, checker, sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != partitions || res.StillRejected["not_json_object"] != 1 {
		t.Fatalf("run %+v, want %d moved and 1 still rejected", res, partitions)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		db.SyncReplicas(t, local...)
		q := perShard("quarantine_local")
		if q[0]+q[1] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quarantine per shard %v after the run, want only the still rejected message", q)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ev := perShard("events_local"); ev[0]+ev[1] != partitions || ev[0] == 0 || ev[1] == 0 {
		t.Fatalf("events per shard %v, want %d in all, on both shards", ev, partitions)
	}
	var offsets uint64
	if err := db.Conn.QueryRow(ctx, "SELECT uniqExact(kafka_partition, kafka_offset) FROM events").Scan(&offsets); err != nil || offsets != partitions {
		t.Fatalf("events holds %d distinct offsets (%v), want %d", offsets, err, partitions)
	}

	res, err = requeue.Run(ctx, db.Conn, db.Database, checker, sink, opts)
	if err != nil || res.Examined != 1 || res.Moved != 0 {
		t.Fatalf("second run %+v, %v: want only the still rejected message examined", res, err)
	}
}
