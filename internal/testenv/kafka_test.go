package testenv_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faultline/faultline/internal/testenv"
)

// A three-broker cluster spreads partition leadership over its brokers, and after one of
// them is taken away its partitions are led by the others: producing and consuming go on
// through the addresses that are left, and the one taken away refuses connections.
func TestBrokersTakeAway(t *testing.T) {
	const topic = "api-errors"
	b := testenv.Brokers(t, 3, topic, 6)
	if len(b.Addrs) != 3 || b.Addr != b.Addrs[0] {
		t.Fatalf("Addrs %v, Addr %s", b.Addrs, b.Addr)
	}
	if n := len(brokersInMetadata(t, b.Addrs[0])); n != 3 {
		t.Fatalf("metadata lists %d brokers, want 3", n)
	}
	produceTo(t, b.Addrs, topic, 0, 60)

	gone := b.Cluster.LeaderFor(topic, 0)
	if err := b.TakeAway(gone); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", b.Addrs[gone], time.Second); err == nil {
		t.Fatalf("broker %d (%s) still accepts connections after TakeAway", gone, b.Addrs[gone])
	}
	for p := range int32(6) {
		if l := b.Cluster.LeaderFor(topic, p); l == gone || l < 0 {
			t.Fatalf("partition %d led by %d after broker %d was taken away", p, l, gone)
		}
	}
	var left []string
	for i, a := range b.Addrs {
		if int32(i) != gone {
			left = append(left, a)
		}
	}
	if n := len(brokersInMetadata(t, left[0])); n != 2 {
		t.Fatalf("metadata lists %d brokers after one was taken away, want 2", n)
	}
	// Clients keep the full list, the dead address first: they must get past it.
	all := append([]string{b.Addrs[gone]}, left...)
	produceTo(t, all, topic, 60, 40)
	got := consumeFrom(t, all, topic, "g-takeaway", 100)
	checkAll(t, got, 100)
	if err := b.TakeAway(gone); err == nil {
		t.Error("taking the same broker away twice: no error")
	}
}

// devbroker --brokers 3 serves one cluster on three consecutive ports.
func TestBrokerProcessCluster(t *testing.T) {
	b := testenv.StartBrokerProcesses(t, t.TempDir(), 3)
	if len(b.Addrs) != 3 {
		t.Fatalf("Addrs %v", b.Addrs)
	}
	for _, a := range b.Addrs {
		got := brokersInMetadata(t, a)
		if fmt.Sprint(got) != fmt.Sprint(sorted(b.Addrs)) {
			t.Fatalf("metadata from %s lists brokers %v, want %v", a, got, sorted(b.Addrs))
		}
	}
	produceTo(t, b.Addrs, "api-errors", 0, 30)
	b.Kill()
	b.Start()
	got := consumeFrom(t, b.Addrs[1:], "api-errors", "g1", 30)
	checkAll(t, got, 30)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// brokersInMetadata returns the host:port of every broker the metadata from addr lists.
func brokersInMetadata(t *testing.T, addr string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A transport of its own: the default one caches metadata for seconds.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second, Transport: tr}
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("metadata from %s: %v", addr, err)
	}
	var out []string
	for _, br := range meta.Brokers {
		out = append(out, net.JoinHostPort(br.Host, fmt.Sprint(br.Port)))
	}
	sort.Strings(out)
	return out
}

func produceTo(t *testing.T, addrs []string, topic string, from, n int) {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(addrs...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		// Leaders move when a broker is taken away; with the default 6 s metadata TTL the
		// writer's ten attempts (about 5 s of backoff) can all go to the old leader.
		Transport: &kafka.Transport{MetadataTTL: 500 * time.Millisecond},
	}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(from + i)), Value: []byte(fmt.Sprintf("m%d", from+i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce to %v: %v", addrs, err)
	}
}

func consumeFrom(t *testing.T, addrs []string, topic, group string, n int) map[string]int {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     addrs,
		Topic:       topic,
		GroupID:     group,
		StartOffset: kafka.FirstOffset,
		MaxWait:     time.Second,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume from %v after %d of %d messages: %v", addrs, i, n, err)
		}
		got[string(m.Value)]++
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return got
}

// A writer on WriterTransport routes by the metadata of the broker it talks to, even when
// an earlier broker with another partition count listened on the same port moments ago:
// the shared default Transport would still hold six partitions for the address and send
// five of every six messages to partitions the new broker does not have.
func TestWriterTransportReadsItsOwnBrokersMetadata(t *testing.T) {
	const topic = "reused"
	write := func(addr string, n int) map[int]int64 {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.RoundRobin{},
			BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne, Transport: testenv.WriterTransport(t)}
		defer w.Close()
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Value: []byte(fmt.Sprintf("m%d", i))}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("write %d messages to %s: %v", n, addr, err)
		}
		return endOffsets(t, addr, topic)
	}

	first := testenv.Broker(t, topic, 6)
	if got := write(first.Addr, 60); len(got) != 6 {
		t.Fatalf("the six-partition broker got messages on %d partitions, want 6: %v", len(got), got)
	}
	_, port, err := net.SplitHostPort(first.Addr)
	if err != nil {
		t.Fatal(err)
	}
	first.Cluster.Close()
	var p int
	fmt.Sscan(port, &p)
	second := testenv.Broker(t, topic, 1, kfake.Ports(p))
	if second.Addr != first.Addr {
		t.Fatalf("second broker listens on %s, want the first's %s", second.Addr, first.Addr)
	}
	if got := write(second.Addr, 12); got[0] != 12 || len(got) != 1 {
		t.Fatalf("the one-partition broker on the reused port: messages per partition %v, want all 12 on 0", got)
	}
}

// endOffsets returns the end offset of each partition of topic that holds messages.
func endOffsets(t *testing.T, addr, topic string) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second, Transport: testenv.WriterTransport(t)}
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 {
		t.Fatalf("metadata of %s from %s: %v", topic, addr, err)
	}
	var req []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		req = append(req, kafka.LastOffsetOf(p.ID))
	}
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		t.Fatalf("end offsets of %s from %s: %v", topic, addr, err)
	}
	out := map[int]int64{}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, po.Partition, po.Error)
		}
		if po.LastOffset > 0 {
			out[po.Partition] = po.LastOffset
		}
	}
	return out
}
