package pipeline

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/loadgen"
	"github.com/faultline/faultline/schema"
)

// A broker of three goes away mid-run (its listener closes and every connection to it is
// cut, as a crash would): the broker that coordinates the group and leads some of the
// partitions. Two members of one group run throughout; they find the new coordinator and
// the new leaders through the brokers left in their list, and every message, produced
// before and after, is stored exactly once.
func TestBrokerOfThreeGoesAway(t *testing.T) {
	const (
		topic      = "api-errors"
		partitions = 6
		group      = "three-brokers"
	)
	b := testenv.Brokers(t, 3, topic, partitions)
	gone := b.Cluster.CoordinatorFor(group)
	var left []string
	for i, a := range b.Addrs {
		if int32(i) != gone {
			left = append(left, a)
		}
	}
	ch := testenv.ClickHouse(t)
	if _, err := schema.Migrate(context.Background(), schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	// The producer of the test writes through brokers that stay: it is not under test.
	h := &harness{t: t, broker: left[0], brokerCluster: b.Cluster, topic: topic, ch: ch, cat: mustCatalog(t), written: loadgen.NewExpected()}
	h.produce(31, 20000, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg      sync.WaitGroup
		members []*instance
		runErrs = make([]error, 2)
	)
	for i := range 2 {
		cfg := h.config(group)
		cfg.Kafka.Brokers = b.Addrs // every broker, the one that goes away among them
		cfg.Batch.MaxRows = 1000    // many commits, so that some are in flight at the fault
		inst := h.newIngester(cfg)
		members = append(members, inst)
		wg.Add(1)
		go func() { defer wg.Done(); _, runErrs[i] = inst.in.Run(ctx, RunOptions{}) }()
	}
	defer func() { cancel(); wg.Wait() }()

	// A transport of its own, on the brokers that stay: the default one caches metadata.
	kc := &kafka.Client{Addr: kafka.TCP(left...), Timeout: 5 * time.Second, Transport: &kafka.Transport{}}
	db := ch.Database
	stored := func() int64 {
		return h.queryInt("SELECT toUInt64(count()) FROM (SELECT kafka_offset FROM " + db + ".events UNION ALL SELECT kafka_offset FROM " + db + ".quarantine)")
	}
	waitFor(t, 60*time.Second, "both members to own partitions and store rows", func() bool {
		for _, m := range members {
			if testutil.ToFloat64(m.m.Assigned) == 0 {
				return false
			}
		}
		return stored() > 2000
	})
	hits := func() float64 { // what the members saw of the broker going away
		n := 0.0
		for _, m := range members {
			n += testutil.ToFloat64(m.m.Commits.WithLabelValues("error")) + testutil.ToFloat64(m.m.Rebalances)
			for _, op := range []string{"fetch", "join", "stored_offsets", "seek"} {
				n += testutil.ToFloat64(m.m.KafkaErrors.WithLabelValues(op))
			}
		}
		return n
	}
	before := hits()
	if n := stored(); n >= h.written.Total {
		t.Fatalf("everything (%d rows) stored before the fault: the broker went away after the work", n)
	}
	if err := b.TakeAway(gone); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d (%s), the group's coordinator, taken away with %d of %d messages stored", gone, b.Addrs[gone], stored(), h.written.Total)
	h.produce(32, 10000, nil)

	waitFor(t, 2*time.Minute, "the group to commit every partition's end offset", func() bool {
		c, _ := groupCaughtUp(kc, group, topic, partitions)
		return c
	})
	cancel()
	wg.Wait()
	for i, err := range runErrs {
		if err != nil {
			t.Fatalf("member %d: run: %v", i, err)
		}
	}
	// The members noticed: a commit, fetch or join failed, or a generation ended.
	if after := hits(); after <= before {
		t.Errorf("no commit error, Kafka error or new generation after the coordinator went away (%v before, %v after)", before, after)
	}
	for i, m := range members {
		for p := range partitions {
			if n := testutil.ToFloat64(m.m.LedgerBreaches.WithLabelValues(topic, strconv.Itoa(p))); n != 0 {
				t.Errorf("member %d: %v ledger breaches on partition %d", i, n, p)
			}
		}
	}
	h.assertExactlyOnce()
	// A member starting now, with the same broker list, finds nothing left to do.
	cfg := h.config(group)
	cfg.Kafka.Brokers = b.Addrs
	drainCtx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	sum, err := h.newIngester(cfg).in.Run(drainCtx, RunOptions{Drain: true})
	if err != nil {
		t.Fatalf("drain after catching up: %v", err)
	}
	if sum.Consumed != 0 {
		t.Fatalf("drain after catching up read %d messages, want 0: %+v", sum.Consumed, sum)
	}
}

// groupCaughtUp reports whether group has committed the end offset of every partition.
func groupCaughtUp(kc *kafka.Client, group, topic string, partitions int) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	var parts []int
	for p := range partitions {
		parts = append(parts, p)
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	ends, err := kc.ListOffsets(ctx, req)
	if err != nil {
		return false, err
	}
	com, err := kc.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false, err
	}
	if com.Error != nil {
		return false, com.Error
	}
	committed := map[int]int64{}
	for _, p := range com.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	for _, po := range ends.Topics[topic] {
		if po.Error != nil {
			return false, po.Error
		}
		if committed[po.Partition] != po.LastOffset {
			return false, nil
		}
	}
	return len(ends.Topics[topic]) == partitions, nil
}
