package pipeline

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/internal/testenv"
)

// The caller may hold a message far longer than the read timeout (the inflight budget is
// full while ClickHouse is down); that wait is not the broker's, so the next read of the
// same fetch still succeeds instead of failing with an i/o timeout and a reconnect. The
// messages are larger than the connection's read buffer, so that the second one is still
// on the socket when the caller comes back.
func TestPartitionReaderOutwaitsASlowCaller(t *testing.T) {
	const topic = "slow-caller"
	b := testenv.Broker(t, topic, 1)
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: topic, BatchSize: 3, BatchBytes: 4 << 20,
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne, Transport: testenv.WriterTransport(t)}
	defer w.Close()
	var msgs []kafka.Message
	for i := range 3 {
		msgs = append(msgs, kafka.Message{Value: bytes.Repeat([]byte{'a' + byte(i)}, 300<<10)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	const timeout = 300 * time.Millisecond
	r := newPartitionReader(ctx, fetchConfig{
		dialer: &kafka.Dialer{Timeout: 5 * time.Second}, brokers: []string{b.Addr}, topic: topic,
		minBytes: 1, maxBytes: 10 << 20, maxWait: 200 * time.Millisecond, start: kafka.FirstOffset,
		readTimeout: timeout,
		skipped:     func(from, to int64) { t.Errorf("skipped [%d, %d) of a log that starts at 0", from, to) },
	})
	defer r.Close()
	for want := range int64(3) {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("message %d, after holding the one before for %s: %v", want, 3*timeout, err)
		}
		if msg.Offset != want || len(msg.Value) != 300<<10 || msg.Value[0] != 'a'+byte(want) {
			t.Fatalf("got offset %d (%d bytes of %q), want offset %d", msg.Offset, len(msg.Value), msg.Value[:1], want)
		}
		time.Sleep(3 * timeout) // the caller waits for room in the budget
	}
}
