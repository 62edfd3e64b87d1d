package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// The ingester binary in cluster mode (clickhouse.cluster, local inserts) on ZooKeeper + 2
// shards x 2 replicas of 18.16, two members of one group throughout, production running, and
// the faults one after the other: a replica SIGKILLed and started again past its ZooKeeper
// session; a whole shard down (both replicas), during which the other shard's partitions
// are committed on; ZooKeeper SIGSTOPped for twice its session timeout (tables read-only,
// inserts back off, retries counted by cause). Then exact counts: every message one row,
// per error type, reason, flag and environment, the rollup agreeing, read through the
// Distributed tables once every replica has every part.
func TestClusterFaults(t *testing.T) {
	r := newRig(t, rigOptions{cluster: true})
	_, seed := newRand(t)
	cl := r.cl
	r.produce(seed, 20000)
	a := r.startAndWait(nil)
	b := r.startAndWait(nil)
	waitUntil(t, 60*time.Second, "both members own partitions and store rows", func() (bool, string) {
		na, nb := a.mustScrape(t).sum("faultline_assigned_partitions"), b.mustScrape(t).sum("faultline_assigned_partitions")
		return na > 0 && nb > 0 && a.mustScrape(t).sum("faultline_rows_stored_total")+b.mustScrape(t).sum("faultline_rows_stored_total") > 0,
			fmt.Sprintf("assigned %v and %v", na, nb)
	})
	prod := r.startProducing(seed+1, 3000, 0)
	var notes []string
	// Whatever fails below, the cluster is the test binary's: leave every node running.
	var down []*testenv.Node
	zkPaused := false
	t.Cleanup(func() {
		if zkPaused {
			cl.ZooKeeper.Continue(t)
		}
		for _, n := range down {
			startAfterKill(t, n)
		}
	})
	restart := func(since time.Time) {
		time.Sleep(max(testenv.ClusterZKSessionTimeout+time.Second-time.Since(since), 0))
		for _, n := range down {
			startAfterKill(t, n)
		}
		down = nil
	}

	// A replica SIGKILLed while ingesting.
	time.Sleep(time.Second)
	rep := cl.ShardNodes(1)[0]
	rep.Kill()
	down = append(down, rep)
	killed := time.Now()
	restart(killed)
	notes = append(notes, fmt.Sprintf("replica %s SIGKILLed, started again after %s", rep.Name, time.Since(killed).Round(100*time.Millisecond)))

	// A whole shard down: the other shard's partitions are committed on meanwhile.
	shardOf := r.shardsOfPartitions()
	// The restarted replica restores its tables for a while; shard 1 must be storing again
	// before the next fault, so that what follows is the other shard's doing.
	settled := r.committedByShard(shardOf)
	waitUntil(t, 60*time.Second, "shard 1 commits again after its replica's restart", func() (bool, string) {
		c := r.committedByShard(shardOf)
		return c[1] > settled[1], fmt.Sprintf("shard 1 committed %d", c[1])
	})
	before := r.committedByShard(shardOf)
	for _, n := range cl.ShardNodes(2) {
		n.Kill()
		down = append(down, n)
	}
	killed = time.Now()
	var during map[int]int64
	waitUntil(t, 30*time.Second, "shard 1's partitions committed on while shard 2 is down", func() (bool, string) {
		during = r.committedByShard(shardOf)
		return during[1] > before[1] && time.Since(killed) >= 4*time.Second, fmt.Sprintf("shard 1 committed %d, then %d", before[1], during[1])
	})
	restart(killed)
	notes = append(notes, fmt.Sprintf("shard 2 down %s, shard 1's partitions committed %d more meanwhile",
		time.Since(killed).Round(100*time.Millisecond), during[1]-before[1]))

	// ZooKeeper stopped past its session timeout.
	time.Sleep(2 * time.Second)
	cl.ZooKeeper.Pause(t)
	zkPaused = true
	paused := time.Now()
	time.Sleep(2 * testenv.ClusterZKSessionTimeout)
	cl.ZooKeeper.Continue(t)
	zkPaused = false
	notes = append(notes, fmt.Sprintf("ZooKeeper stopped %s", time.Since(paused).Round(100*time.Millisecond)))

	time.Sleep(3 * time.Second)
	st := prod.stop(r)
	causes := map[string]float64{}
	for _, p := range []*ingestProc{a, b} {
		for cause, n := range p.mustScrape(t).byLabel("faultline_insert_retry_causes_total", "cause") {
			causes[cause] += n
		}
	}
	if causes["replica_readonly"]+causes["zookeeper"] == 0 {
		t.Errorf("no insert retry counted as replica_readonly or zookeeper: %v", causes)
	}
	b.stop(t)
	fin := r.finish(a)
	v := r.verify()
	t.Logf("RESULT cluster faults: %d messages (%d events, %d quarantined) produced at %.0f/s with two ingesters; %s; retries by cause %v; catch-up %s; drain: %s; exactly once: ok",
		v.Messages, v.Events, v.Quarantined, st.Rate(), strings.Join(notes, "; "), causes, fin.CatchUp.Round(100*time.Millisecond), fin.Drain)
}

// shardsOfPartitions asks the server which shard holds each partition: the sharding key
// over the partition's topic and number, by the test cluster's equal shard weights.
func (r *rig) shardsOfPartitions() map[int]int {
	r.t.Helper()
	conn := r.conn()
	defer conn.Close()
	out := map[int]int{}
	for _, p := range r.partitionList() {
		n := testenv.QueryInt(r.t, conn, "SELECT toUInt64(cityHash64(CAST(? AS String), CAST(? AS UInt32)) % ?)", topic, uint32(p), uint64(testenv.ClusterShards))
		out[p] = int(n) + 1
	}
	return out
}

// committedByShard sums the group's committed offsets of each shard's partitions.
func (r *rig) committedByShard(shardOf map[int]int) map[int]int64 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := r.committed(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[int]int64{}
	for p, off := range c {
		out[shardOf[p]] += off
	}
	return out
}

// startAfterKill starts a SIGKILLed node again the way an operator does after a crash: with
// the force_restore_data flag, because 18.16 refuses to load a Replicated table whose local
// parts differ too much from ZooKeeper's list ("The local set of parts ... doesn't look like
// the set of parts in ZooKeeper"), which a kill in the middle of inserts can leave. Parts
// only on the disk (never committed) are detached; missing ones are fetched from the other
// replica.
func startAfterKill(t testing.TB, n *testenv.Node) {
	t.Helper()
	flags := filepath.Join(n.Dir, "data", "flags")
	if err := os.MkdirAll(flags, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flags, "force_restore_data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n.Start(t)
}
