package pipeline

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kgoClient is a franz-go client on the harness broker, for admin requests kafka-go lacks
// and for producing to chosen partitions.
func (h *harness) kgoClient() *kgo.Client {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.broker), kgo.DefaultProduceTopic(h.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(cl.Close)
	return cl
}

// produceTo writes n bare bodies to partition and adds them to the ground truth.
func (h *harness) produceTo(cl *kgo.Client, partition int32, n int) {
	h.t.Helper()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Partition: partition, Value: []byte(`{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified","error_message":"p` + strconv.Itoa(int(partition)) + `"}`)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
	h.written.Total += int64(n)
	h.written.Accepted += int64(n)
	h.written.ByErrorType["billing_not_verified"] += int64(n)
	h.written.ByFlag["message_mismatch"] += int64(n)
}

// --drain used to wait forever for a partition that retention (here DeleteRecords) had
// emptied before the group ever committed it: nothing to read, so no commit would come.
func TestDrainEndsOnEmptiedPartition(t *testing.T) {
	h := newHarness(t, 3)
	cl := h.kgoClient()
	for p := int32(0); p < 3; p++ {
		h.produceTo(cl, p, 100)
	}
	h.deleteRecords(cl, 2, -1, 100) // -1: up to the end

	_, sum := h.drain("emptied") // fails after 2 minutes if the drain waits for partition 2
	if sum.Stored != 200 {
		t.Fatalf("summary %+v, want 200 stored", sum)
	}
	h.assertExactlyOnce()
}

// deleteRecords has the broker drop partition's records before offset (as retention does),
// n of the bodies produceTo wrote, and takes them out of the ground truth.
func (h *harness) deleteRecords(cl *kgo.Client, partition int32, offset int64, n int64) {
	h.t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = h.topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		h.t.Fatal(err)
	}
	if e := resp.Topics[0].Partitions[0].ErrorCode; e != 0 {
		h.t.Fatalf("delete records: error code %d", e)
	}
	h.written.Total -= n
	h.written.Accepted -= n
	h.written.ByErrorType["billing_not_verified"] -= n
	h.written.ByFlag["message_mismatch"] -= n
}

// Messages retention removed before the group read them (its committed offset is now before
// the log's start) are passed over from the log's first offset, and counted as expired.
func TestExpiredOffsetsAreCounted(t *testing.T) {
	h := newHarness(t, 1)
	cl := h.kgoClient()
	h.produceTo(cl, 0, 100)
	if _, sum := h.drain("expired"); sum.Stored != 100 {
		t.Fatalf("first drain: summary %+v, want 100 stored", sum)
	}
	h.produceTo(cl, 0, 100)
	h.deleteRecords(cl, 0, 150, 50) // offsets 100-149: never read by the group

	inst, sum := h.drain("expired")
	if sum.Stored != 50 {
		t.Fatalf("second drain: summary %+v, want 50 stored", sum)
	}
	if got := testutil.ToFloat64(inst.m.Expired.WithLabelValues(h.topic)); got != 50 {
		t.Fatalf("messages_expired_total = %v, want 50", got)
	}
	h.assertExactlyOnce()
}

// Partitions added to the topic while the ingester runs are consumed without any other
// member coming or going, and every message is stored once.
func TestAddedPartitionsAreConsumed(t *testing.T) {
	h := newHarness(t, 2)
	cl := h.kgoClient()
	h.produceTo(cl, 0, 300)
	h.produceTo(cl, 1, 300)

	cfg := h.config("grow")
	inst := h.newIngester(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var runErr error
	go func() { defer wg.Done(); _, runErr = inst.in.Run(ctx, RunOptions{}) }()
	defer func() { cancel(); wg.Wait() }()
	db := h.ch.Database
	stored := func() int64 { return h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events") }
	waitFor(t, 60*time.Second, "first 600 rows", func() bool { return stored() == 600 })

	req := kmsg.NewPtrCreatePartitionsRequest()
	ct := kmsg.NewCreatePartitionsRequestTopic()
	ct.Topic, ct.Count = h.topic, 4
	req.Topics = append(req.Topics, ct)
	req.TimeoutMillis = 5000
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.Topics[0].ErrorCode; e != 0 {
		t.Fatalf("create partitions: error code %d", e)
	}
	cl = h.kgoClient() // one that knows the new partitions
	h.produceTo(cl, 2, 200)
	h.produceTo(cl, 3, 200)
	h.produceTo(cl, 0, 100)
	waitFor(t, 60*time.Second, "rows of the added partitions", func() bool { return stored() == 1100 })
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatalf("run: %v", runErr)
	}
	if n := h.queryInt("SELECT toUInt64(uniqExact(kafka_partition)) FROM " + db + ".events"); n != 4 {
		t.Fatalf("rows from %d partitions, want 4", n)
	}
	h.assertExactlyOnce()
}

// A failed offset commit reaches whoever waits for the batch (a revoke, a shutdown) instead
// of being logged and forgotten.
func TestCommitErrorsReachTheWaiter(t *testing.T) {
	h := newHarness(t, 1)
	cl := h.kgoClient()
	cfg := h.config("commit-errors")
	cfg.Batch.MaxAge = time.Hour // only the flushes this test asks for seal batches
	inst := h.newIngester(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = inst.in.Run(ctx, RunOptions{}) }()
	defer func() { cancel(); wg.Wait() }()
	flush := func() error {
		done := make(chan error, 1)
		inst.in.items <- item{flush: &flushRequest{trigger: "revoke", done: done}}
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("flush never answered")
			return nil
		}
	}
	consumed := func(n float64) func() bool {
		return func() bool { return testutil.ToFloat64(inst.m.Consumed.WithLabelValues(h.topic)) == n }
	}
	h.produceTo(cl, 0, 50)
	waitFor(t, 60*time.Second, "50 messages read", consumed(50))
	if err := flush(); err != nil {
		t.Fatalf("flush with working commits: %v", err)
	}

	var failing sync.Mutex
	fail := true
	h.brokerCluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		h.brokerCluster.KeepControl()
		failing.Lock()
		defer failing.Unlock()
		if !fail {
			return nil, nil, false
		}
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, 30 // GROUP_AUTHORIZATION_FAILED
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	defer func() { failing.Lock(); fail = false; failing.Unlock() }()
	h.produceTo(cl, 0, 10)
	waitFor(t, 60*time.Second, "10 more messages read", consumed(60))
	err := flush()
	if err == nil || !strings.Contains(err.Error(), "commit offsets") {
		t.Fatalf("waiter of a batch whose commit failed got %v, want the commit error", err)
	}
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + h.ch.Database + ".events"); n != 60 {
		t.Fatalf("%d rows stored, want 60 (the commit failed, the insert did not)", n)
	}
	if n := testutil.ToFloat64(inst.m.Commits.WithLabelValues("error")); n < 1 {
		t.Fatalf("commits_total{result=error} = %v", n)
	}
}

// A topic deleted and created again starts at offset 0: rows of the old topic at those
// offsets must not make the new messages look stored. They are stored and counted.
func TestRecreatedTopicIsNotSkipped(t *testing.T) {
	h := newHarness(t, 1)
	h.produce(21, 300, nil)
	h.drain("before-reset")
	cl := h.kgoClient()
	ctx := context.Background()
	del := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(h.topic)
	del.Topics = append(del.Topics, dt)
	del.TopicNames = []string{h.topic}
	if _, err := del.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = h.topic, 1, 1
	create.Topics = append(create.Topics, ct)
	waitFor(t, 30*time.Second, "the topic to be created again", func() bool {
		resp, err := create.RequestWith(ctx, cl)
		return err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0
	})
	first := h.written.Total
	h.produce(22, 300, nil)
	inst, sum := h.drain("after-reset") // no commits: everything from offset 0 again
	if sum.Skipped != 0 || sum.Stored+sum.Quarantined != 300 {
		t.Fatalf("summary %+v: want all 300 new messages stored, none skipped", sum)
	}
	if got := testutil.ToFloat64(inst.m.OffsetsReused.WithLabelValues(h.topic)); got != 300 {
		t.Fatalf("offsets_reused_total = %v, want 300", got)
	}
	db := h.ch.Database
	total := h.queryInt("SELECT toUInt64(count()) FROM (SELECT kafka_offset FROM " + db + ".events UNION ALL SELECT kafka_offset FROM " + db + ".quarantine)")
	if total != first+300 {
		t.Fatalf("%d rows, want %d of the old topic and 300 of the new", total, first)
	}
	// Same messages read again are still skipped: fingerprints match.
	_, again := h.drain("after-reset-again")
	if again.Skipped != 300 || again.Stored+again.Quarantined != 0 {
		t.Fatalf("re-read of the new topic: %+v, want 300 skipped", again)
	}
}
