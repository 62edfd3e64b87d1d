package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/internal/testenv"
)

// clusterScenario runs two ingesters of one group on the 2x2 cluster throughout: a backlog,
// then fault while more is produced, then catching up, and checks the promise with exact
// counts (every message one row, per error type, reason and flag, the rollup agreeing) once
// every replica has every part. fault returns a note for the log.
func clusterScenario(t *testing.T, group string, fault func(h *harness, db *testenv.ClusterDB, members []*instance) string) {
	t.Helper()
	h, db := newClusterHarness(t, 6)
	h.produce(51, 40000, nil)
	var members []*instance
	var stops []func() error
	for range 2 {
		cfg := h.config(group)
		cfg.Batch.MaxRows = 1000 // many inserts in flight at the fault
		inst := h.newIngester(cfg)
		ctx, cancel := context.WithCancel(context.Background())
		stops = append(stops, runInBackground(ctx, cancel, inst))
		members = append(members, inst)
	}
	defer func() {
		for _, s := range stops {
			_ = s()
		}
	}()
	waitFor(t, time.Minute, "both members own partitions and rows are stored", func() bool {
		for _, m := range members {
			if testutil.ToFloat64(m.m.Assigned) == 0 {
				return false
			}
		}
		return h.queryInt("SELECT toUInt64(count()) FROM "+h.ch.Database+".events") > 0
	})
	kc := &kafka.Client{Addr: kafka.TCP(h.broker), Timeout: 5 * time.Second, Transport: &kafka.Transport{}}
	lag := func() int64 {
		ends, com := partitionOffsets(t, kc, group, h.topic, 6)
		var n int64
		for p, e := range ends {
			n += e - com[p]
		}
		return n
	}
	if lag() == 0 {
		t.Fatal("the backlog was stored before the fault: nothing in flight")
	}
	start := time.Now()
	note := fault(h, db, members)
	h.produce(59, 3000, nil)
	waitFor(t, 2*time.Minute, "the group commits every partition's end", func() bool { return lag() == 0 })
	caughtUp := time.Since(start)
	for i, s := range stops {
		if err := s(); err != nil {
			t.Fatalf("member %d: run: %v", i, err)
		}
	}
	syncReplicas(t, db)
	h.assertExactlyOnce()
	// Each replica of a shard holds the same rows.
	for shard := 1; shard <= testenv.ClusterShards; shard++ {
		var counts []int64
		for i, n := range db.Nodes {
			if n.Shard == shard {
				counts = append(counts, testenv.QueryInt(t, db.NodeConn(t, i), "SELECT toUInt64(count()) FROM (SELECT kafka_offset FROM "+db.Database+".events_local UNION ALL SELECT kafka_offset FROM "+db.Database+".quarantine_local)"))
			}
		}
		if counts[0] != counts[1] {
			t.Errorf("shard %d: replicas hold %v rows", shard, counts)
		}
	}
	causes := map[string]float64{}
	for _, m := range members {
		for _, table := range []string{tableEvents, tableQuarantine} {
			for _, c := range []string{"connection", "timeout", "replica_readonly", "zookeeper", "shard_unavailable", "other"} {
				causes[c] += testutil.ToFloat64(m.m.RetryCauses.WithLabelValues(table, c))
			}
		}
	}
	t.Logf("RESULT %s: %d messages (%d events, %d quarantined) by two members; %s; caught up %s after the fault began; retries by cause %v; exactly once: ok",
		group, h.written.Total, h.written.Accepted, h.written.Rejected, note, caughtUp.Round(100*time.Millisecond), causes)
}

// syncReplicas waits until every replica has fetched every part its shard has.
func syncReplicas(t *testing.T, db *testenv.ClusterDB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, n := range db.Nodes {
		c := db.NodeConn(t, i)
		for _, table := range []string{"events_local", "quarantine_local", "stored_offsets_local", "events_per_minute_local"} {
			if err := c.Exec(ctx, "SYSTEM SYNC REPLICA "+db.Database+"."+table); err != nil {
				t.Fatalf("sync replica %s on %s: %v", table, n.Name, err)
			}
		}
	}
}

// A replica SIGKILLed while ingesting and started again once its ZooKeeper session has
// expired: its shard's inserts move to the other replica, and a retried block that had
// landed on the dead one is deduplicated by the Replicated table.
func TestClusterReplicaKilled(t *testing.T) {
	clusterScenario(t, "cluster-replica-killed", func(h *harness, db *testenv.ClusterDB, members []*instance) string {
		n := db.ShardNodes(1)[0] // the replica the shard's connections open first
		var other int            // index of the shard's other replica in db.Nodes
		for i, x := range db.Nodes {
			if x.Shard == 1 && x != n {
				other = i
			}
		}
		n.Kill()
		killed := time.Now()
		restarted := false
		h.t.Cleanup(func() {
			if !restarted { // the cluster is the test binary's: never leave a node down
				n.Start(h.t)
			}
		})
		h.produce(52, 3000, nil)
		// The shard goes on storing on its other replica alone: every message of its
		// partitions is there before the killed one comes back.
		kc := &kafka.Client{Addr: kafka.TCP(h.broker), Timeout: 5 * time.Second, Transport: &kafka.Transport{}}
		ends, _ := partitionOffsets(h.t, kc, "cluster-replica-killed", h.topic, 6)
		var want int64
		for p, e := range ends {
			if l, err := members[0].in.laneOf(context.Background(), h.topic, p); err != nil {
				h.t.Fatal(err)
			} else if l.shard == 1 {
				want += e
			}
		}
		conn := db.NodeConn(h.t, other)
		var got int64
		waitFor(h.t, time.Minute, "shard 1's other replica holds all its partitions' messages", func() bool {
			got = testenv.QueryInt(h.t, conn, "SELECT toUInt64(count()) FROM (SELECT kafka_offset FROM "+db.Database+".events_local UNION ALL SELECT kafka_offset FROM "+db.Database+".quarantine_local)")
			return got >= want
		})
		if got != want {
			h.t.Fatalf("replica %s holds %d rows of shard 1, its partitions have %d messages", db.Nodes[other].Name, got, want)
		}
		stored := time.Since(killed)
		time.Sleep(max(testenv.ClusterZKSessionTimeout+time.Second-time.Since(killed), 0))
		n.Start(h.t)
		restarted = true
		return fmt.Sprintf("replica %s SIGKILLed; shard 1's %d messages all stored on %s alone %s after the kill; %s started again after %s",
			n.Name, want, db.Nodes[other].Name, stored.Round(100*time.Millisecond), n.Name, time.Since(killed).Round(100*time.Millisecond))
	})
}

// ZooKeeper stopped (SIGSTOP) for twice its session timeout: the Replicated tables go
// read-only and inserts fail; the ingesters back off, count the retries by cause, and store
// everything once when ZooKeeper is back.
func TestClusterZooKeeperStopped(t *testing.T) {
	clusterScenario(t, "cluster-zookeeper-stopped", func(h *harness, db *testenv.ClusterDB, members []*instance) string {
		zk := db.ZooKeeper
		zk.Pause(h.t)
		paused := time.Now()
		resumed := false
		defer func() {
			if !resumed {
				zk.Continue(h.t) // the cluster is the test binary's: never leave it stopped
			}
		}()
		h.produce(53, 3000, nil)
		time.Sleep(max(2*testenv.ClusterZKSessionTimeout-time.Since(paused), 0))
		zk.Continue(h.t)
		resumed = true
		zkCauses := 0.0
		for _, m := range members {
			for _, c := range []string{"replica_readonly", "zookeeper"} {
				zkCauses += testutil.ToFloat64(m.m.RetryCauses.WithLabelValues(tableEvents, c))
			}
		}
		if zkCauses == 0 {
			h.t.Errorf("no insert retry counted as replica_readonly or zookeeper while ZooKeeper was stopped %s", time.Since(paused))
		}
		return fmt.Sprintf("ZooKeeper stopped %s; %v insert retries caused by read-only replicas or ZooKeeper", time.Since(paused).Round(100*time.Millisecond), zkCauses)
	})
}

// A whole shard down (both replicas SIGKILLed) while two members ingest: only its
// partitions wait; they are stored once when it is back.
func TestClusterShardDownTwoMembers(t *testing.T) {
	clusterScenario(t, "cluster-shard-down-two", func(h *harness, db *testenv.ClusterDB, members []*instance) string {
		nodes := db.ShardNodes(2)
		for _, n := range nodes {
			n.Kill()
		}
		killed := time.Now()
		restarted := false
		h.t.Cleanup(func() {
			if !restarted {
				for _, n := range nodes {
					n.Start(h.t)
				}
			}
		})
		h.produce(54, 3000, nil)
		time.Sleep(max(testenv.ClusterZKSessionTimeout+time.Second-time.Since(killed), 0))
		for _, n := range nodes {
			n.Start(h.t)
		}
		restarted = true
		return fmt.Sprintf("shard 2 (both replicas) SIGKILLed for %s", time.Since(killed).Round(100*time.Millisecond))
	})
}
