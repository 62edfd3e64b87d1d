package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// WriterConfig configures the kafka.Writer made by NewWriter.
type WriterConfig struct {
	Brokers []string
	Topic   string
	// Balancer: "hash" (default: messages of one key, an organization or a
	// request id, stay on one partition) or "round-robin".
	Balancer string
	// Compression: "none" (default), "lz4", "snappy", "gzip" or "zstd".
	Compression string
	// BatchSize (default 1000) and BatchTimeout (default 5 ms). The timeout
	// must stay small: a synchronous write with few messages per partition
	// waits for it in full (see the environment notes' Writer trap).
	BatchSize    int
	BatchTimeout time.Duration
	// Transport carries SASL and TLS (kafkaconn.Connector.Transport); nil: plaintext with
	// kafka-go's default transport, whose metadata cache is shared by the whole process
	// (tests that start brokers on reused ports pass testenv.WriterTransport).
	Transport kafka.RoundTripper
}

// NewWriter returns a synchronous kafka.Writer for Produce: RequiredAcks one,
// automatic topic creation allowed. Errors name the bad setting.
func NewWriter(cfg WriterConfig) (*kafka.Writer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("loadgen: no brokers")
	}
	if cfg.Topic == "" {
		return nil, errors.New("loadgen: no topic")
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Topic:                  cfg.Topic,
		RequiredAcks:           kafka.RequireOne,
		BatchSize:              cfg.BatchSize,
		BatchTimeout:           cfg.BatchTimeout,
		BatchBytes:             4 << 20, // room for oversize messages
		AllowAutoTopicCreation: true,
		Transport:              cfg.Transport,
	}
	if w.BatchSize <= 0 {
		w.BatchSize = 1000
	}
	if w.BatchTimeout <= 0 {
		w.BatchTimeout = 5 * time.Millisecond
	}
	switch cfg.Balancer {
	case "", "hash":
		w.Balancer = &kafka.Hash{}
	case "round-robin":
		w.Balancer = &kafka.RoundRobin{}
	default:
		return nil, fmt.Errorf("loadgen: balancer %q is not hash or round-robin", cfg.Balancer)
	}
	switch cfg.Compression {
	case "", "none":
	case "lz4":
		w.Compression = compress.Lz4
	case "snappy":
		w.Compression = compress.Snappy
	case "gzip":
		w.Compression = compress.Gzip
	case "zstd":
		w.Compression = compress.Zstd
	default:
		return nil, fmt.Errorf("loadgen: compression %q is not none, lz4, snappy, gzip or zstd", cfg.Compression)
	}
	return w, nil
}

// EnsureTopic creates topic with partitions (replication factor 1) through
// the cluster's controller, reached via broker. An existing topic is left as
// it is, whatever its partition count. dialer carries SASL and TLS
// (kafkaconn.Connector.Dialer); nil: plaintext.
func EnsureTopic(ctx context.Context, dialer *kafka.Dialer, broker, topic string, partitions int) error {
	if partitions < 1 {
		return fmt.Errorf("loadgen: ensure topic %q: partitions %d must be at least 1", topic, partitions)
	}
	if dialer == nil {
		dialer = kafka.DefaultDialer
	}
	conn, err := dialer.DialContext(ctx, "tcp", broker)
	if err != nil {
		return fmt.Errorf("loadgen: ensure topic %q: dial %s: %w", topic, broker, err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("loadgen: ensure topic %q: find controller via %s: %w", topic, broker, err)
	}
	addr := net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port))
	cc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("loadgen: ensure topic %q: dial controller %s: %w", topic, addr, err)
	}
	defer cc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = cc.SetDeadline(dl)
	}
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}); err != nil {
		return fmt.Errorf("loadgen: create topic %q with %d partitions on %s: %w", topic, partitions, addr, err)
	}
	return nil
}

// ProduceOptions tune Produce. The zero value works.
type ProduceOptions struct {
	// Log receives progress every ProgressEvery (default 5 s) and write
	// errors; nil logs nothing.
	Log           *slog.Logger
	ProgressEvery time.Duration
	// Concurrency is how many WriteMessages calls run at once (default 4):
	// a synchronous call waits for its slowest partition, so several in
	// flight keep the broker busy.
	Concurrency int
	// Tick is the pacing interval when a rate is set (default 10 ms): each
	// tick sends the messages the token bucket allows, as one write.
	Tick time.Duration
	// MaxBatch caps the messages of one write (default 2000).
	MaxBatch int
	// Total, when known, adds done/total and an ETA to the progress lines (Produce sets it
	// to its count, ProduceHistory to the history's expected count).
	Total int64
}

// Stats is what Produce delivered.
type Stats struct {
	// Sent messages acknowledged by the broker; Errors messages that failed.
	Sent, Errors int64
	Elapsed      time.Duration
	// Delivered is the ground truth of the acknowledged messages only: what
	// an ingester reading the topic must find.
	Delivered Expected
}

// Rate returns the delivered messages per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

// maxConsecutiveFailures of whole writes make Produce give up: the broker is
// gone, and retrying forever would only hide it.
const maxConsecutiveFailures = 10

type batch struct {
	msgs []Message
	km   []kafka.Message
}

// Produce writes messages of gen to w until count messages were generated
// (count > 0) or ctx ends. With rate > 0 it paces at rate events/s times
// gen.RateFactor (token bucket refilled every tick, so spikes add their
// extra rate); with rate 0 it writes as fast as it can, and then count must
// be positive. A cancelled ctx is a normal stop: writes in flight finish, and
// Produce returns nil. It returns an error for bad arguments or when
// maxConsecutiveFailures writes in a row failed entirely.
func Produce(ctx context.Context, w *kafka.Writer, gen *Generator, rate float64, count int64, po ProduceOptions) (Stats, error) {
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) || count < 0 {
		return Stats{}, fmt.Errorf("loadgen: rate %v and count %d must not be negative", rate, count)
	}
	if rate == 0 && count == 0 {
		return Stats{}, errors.New("loadgen: need a rate or a count (or both)")
	}
	if po.Total == 0 {
		po.Total = count
	}
	return produce(ctx, w, po, func(ctx context.Context, po ProduceOptions, out chan<- batch) {
		generate(ctx, gen, rate, count, po, out)
	})
}

// produce runs feed, which sends batches until it is done or ctx ends, and the writers that
// deliver them.
func produce(ctx context.Context, w *kafka.Writer, po ProduceOptions, feed func(context.Context, ProduceOptions, chan<- batch)) (Stats, error) {
	if po.ProgressEvery <= 0 {
		po.ProgressEvery = 5 * time.Second
	}
	if po.Concurrency <= 0 {
		po.Concurrency = 4
	}
	if po.Tick <= 0 {
		po.Tick = 10 * time.Millisecond
	}
	if po.MaxBatch <= 0 {
		po.MaxBatch = 2000
	}
	log := po.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	var (
		sent, failed atomic.Int64
		consecutive  atomic.Int64
		mu           sync.Mutex
		delivered    = NewExpected()
		lastErr      error
		wg           sync.WaitGroup
	)
	// Writes outlive a cancelled ctx so that what was generated is either
	// delivered or counted as failed, never left unknown.
	wctx := context.WithoutCancel(ctx)
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	batches := make(chan batch, po.Concurrency)
	for range po.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := NewExpected()
			for b := range batches {
				err := w.WriteMessages(wctx, b.km...)
				var werrs kafka.WriteErrors
				ok := 0
				switch {
				case err == nil:
					for i := range b.msgs {
						local.Add(&b.msgs[i])
					}
					ok = len(b.msgs)
				case errors.As(err, &werrs) && len(werrs) == len(b.msgs):
					for i := range b.msgs {
						if werrs[i] == nil {
							local.Add(&b.msgs[i])
							ok++
						}
					}
				}
				sent.Add(int64(ok))
				if bad := len(b.msgs) - ok; bad > 0 {
					failed.Add(int64(bad))
					log.Warn("write failed", "messages", bad, "of", len(b.msgs), "err", err)
				}
				if ok == 0 && err != nil {
					mu.Lock()
					lastErr = err
					mu.Unlock()
					if consecutive.Add(1) >= maxConsecutiveFailures {
						stop()
					}
				} else {
					consecutive.Store(0)
				}
			}
			mu.Lock()
			delivered.Merge(local)
			mu.Unlock()
		}()
	}

	start := time.Now()
	progressDone := make(chan struct{})
	go func() {
		t := time.NewTicker(po.ProgressEvery)
		defer t.Stop()
		var prev int64
		prevT := start
		for {
			select {
			case <-progressDone:
				return
			case now := <-t.C:
				s := sent.Load()
				rate := float64(s-prev) / now.Sub(prevT).Seconds()
				attrs := []any{"sent", s, "errors", failed.Load(), "rate", math.Round(rate), "elapsed", now.Sub(start).Round(time.Second)}
				if po.Total > 0 {
					eta := "unknown"
					if rate > 0 {
						eta = time.Duration(float64(max(po.Total-s, 0)) / rate * float64(time.Second)).Round(time.Second).String()
					}
					attrs = append(attrs, "total", po.Total, "done_pct", math.Round(100*float64(s)/float64(po.Total)), "eta", eta)
				}
				log.Info("progress", attrs...)
				prev, prevT = s, now
			}
		}
	}()

	feed(gctx, po, batches)
	close(batches)
	wg.Wait()
	close(progressDone)

	st := Stats{Sent: sent.Load(), Errors: failed.Load(), Elapsed: time.Since(start), Delivered: delivered}
	if consecutive.Load() >= maxConsecutiveFailures {
		return st, fmt.Errorf("loadgen: %d writes in a row failed, last: %w", maxConsecutiveFailures, lastErr)
	}
	return st, nil
}

// generate feeds batches until count or ctx ends.
func generate(ctx context.Context, gen *Generator, rate float64, count int64, po ProduceOptions, out chan<- batch) {
	var made int64
	remaining := func() int {
		if count == 0 {
			return math.MaxInt
		}
		return int(count - made)
	}
	emit := func(n int, from, to time.Time) bool {
		b := batch{msgs: make([]Message, n), km: make([]kafka.Message, n)}
		span := to.Sub(from)
		for i := range n {
			// Spread the times over the tick so event times are smooth.
			t := from.Add(span * time.Duration(i+1) / time.Duration(n))
			m := gen.Next(t)
			b.msgs[i] = m
			b.km[i] = kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
		}
		made += int64(n)
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}

	if rate == 0 {
		for remaining() > 0 && ctx.Err() == nil {
			now := time.Now()
			if !emit(min(po.MaxBatch, remaining()), now, now) {
				return
			}
		}
		return
	}

	t := time.NewTicker(po.Tick)
	defer t.Stop()
	last := time.Now()
	var tokens float64
	for remaining() > 0 {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
		r := rate * gen.RateFactor(now)
		tokens += r * now.Sub(last).Seconds()
		// A stalled broker must not turn into a burst later: keep at most
		// one second of backlog.
		tokens = min(tokens, math.Max(r, 1))
		n := min(int(tokens), remaining())
		from := last
		last = now
		for n > 0 {
			k := min(n, po.MaxBatch)
			if !emit(k, from, now) {
				return
			}
			tokens -= float64(k)
			n -= k
		}
	}
}
