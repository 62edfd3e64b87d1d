package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"
)

// sourceMetrics are the consumer's: what it found in the partitions' logs, the generations
// it joined and the Kafka operations that failed it. kafka_errors_total has this one owner
// although the group loop (join), the heartbeat while flushing and the wait for a
// partition's shard count in it too: all of them are the consumer waiting to read.
type sourceMetrics struct {
	OffsetsReused *prometheus.CounterVec
	Expired       *prometheus.CounterVec
	KafkaErrors   *prometheus.CounterVec
	Rebalances    prometheus.Counter
}

// newSourceMetrics creates the consumer's metrics on reg, each of topics and each Kafka
// operation at zero.
func newSourceMetrics(reg prometheus.Registerer, topics []string) *sourceMetrics {
	f := promauto.With(reg)
	m := &sourceMetrics{
		OffsetsReused: counterVec(f, "offsets_reused_total",
			"Messages found at an offset where ClickHouse holds rows of another message (a recreated topic): stored, not skipped.", "topic"),
		Expired: counterVec(f, "messages_expired_total",
			"Messages the partition's log no longer held when the group came to read them (retention, DeleteRecords): never read, never stored.", "topic"),
		KafkaErrors: counterVec(f, "kafka_errors_total",
			"Kafka operations that failed and were retried, by operation (fetch, join, stored_offsets, seek, shard_of, heartbeat).", "op"),
		Rebalances: counter(f, "rebalances_total",
			"Consumer group generations this ingester has joined."),
	}
	for _, op := range kafkaOps {
		m.KafkaErrors.WithLabelValues(op)
	}
	for _, t := range topics {
		m.OffsetsReused.WithLabelValues(t)
		m.Expired.WithLabelValues(t)
	}
	return m
}

// item is what a partition hands the batcher: a row, or a request to flush everything
// handed over so far.
type item struct {
	row   *Row
	flush *flushRequest
}

type flushRequest struct {
	trigger string
	done    chan error // gets nil once everything before the request is stored and committed
}

// consume reads one assigned partition until its generation ends, then hands over what it
// read for flushing.
func (in *Ingester) consume(ctx context.Context, gen *kafka.Generation, topic string, a kafka.PartitionAssignment) {
	assigned := time.Now()
	p := in.ledger.own(gen, topic, a.ID, a.Offset)
	defer in.ledger.disown(p)
	l, err := in.laneOf(ctx, topic, a.ID)
	if err != nil {
		if ctx.Err() == nil {
			in.log.Error("partition not consumed: no shard for it", "topic", topic, "partition", a.ID, "error", err)
		}
		return
	}
	defer in.release(p, l)

	// What a previous owner stored without committing is skipped, not stored twice. Its
	// inserts still running are waited out first, so that the read sees all it will store.
	readStored := func(from int64, fence bool) (*offsetSet, bool) {
		for attempt := 0; ; attempt++ {
			var err error
			if fence {
				err = l.sink.fence(ctx, assigned)
			}
			if err == nil {
				var set *offsetSet
				if set, err = l.sink.storedOffsets(ctx, topic, p.id, from); err == nil {
					return set, true
				}
			}
			if ctx.Err() != nil {
				return nil, false
			}
			in.sourceM.KafkaErrors.WithLabelValues("stored_offsets").Inc()
			in.log.Warn("cannot read stored offsets; partition waits", "topic", topic, "partition", a.ID, "shard", l.name, "error", err)
			if sleep(ctx, l.sink.backoff(classify(err), attempt)) != nil {
				return nil, false
			}
		}
	}
	skip, ok := readStored(a.Offset, true)
	if !ok {
		return
	}
	if n := skip.len(); n > 0 {
		in.log.Info("partition has rows stored past its committed offset; they will be skipped",
			"topic", topic, "partition", a.ID, "committed", a.Offset, "stored", n)
	}

	r := newPartitionReader(ctx, fetchConfig{
		dialer: in.dialer, brokers: in.cfg.Kafka.Brokers, topic: topic, partition: a.ID,
		minBytes: in.cfg.Kafka.MinFetchBytes, maxBytes: in.cfg.Kafka.MaxFetchBytes, maxWait: in.cfg.Kafka.MaxWait,
		start: a.Offset,
		skipped: func(from, to int64) {
			in.sourceM.Expired.WithLabelValues(topic).Add(float64(to - from))
			in.log.Warn("partition's log no longer holds offsets the group has not read (retention?); reading on from its first offset",
				"topic", topic, "partition", a.ID, "from", from, "to", to, "messages", to-from)
		},
	})
	defer r.Close()
	reuseLogged := false // once per partition assignment
	for attempt := 0; ; {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			op := "fetch"
			if errors.Is(err, errSeek) {
				op = "seek"
			}
			in.sourceM.KafkaErrors.WithLabelValues(op).Inc()
			in.log.Warn(op+" failed; retrying", "topic", topic, "partition", a.ID, "error", err)
			if sleep(ctx, l.sink.backoff(classRetryable, attempt)) != nil {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		row := in.rows.get()
		checkTime := row.fill(topic, p, msg, time.Time{})
		p.read(msg.Offset, checkTime)
		if skip != nil && skip.until > 0 && msg.Offset >= skip.until {
			if !skip.more {
				skip = nil
			} else if skip, ok = readStored(msg.Offset, false); !ok {
				return
			}
		}
		var stored, reused bool
		if skip != nil {
			stored, reused = skip.match(msg.Offset, row.fingerprint)
		}
		if reused {
			in.sourceM.OffsetsReused.WithLabelValues(topic).Inc()
			if !reuseLogged {
				reuseLogged = true
				in.log.Warn("rows of another message are stored at this offset (a recreated topic, or another cluster with the same topic name?); storing the new message too",
					"topic", topic, "partition", a.ID, "offset", msg.Offset)
			}
		}
		switch {
		case stored:
			row.skipped, row.skipReason = true, skipAlreadyStored
		case isTransactionMarker(msg.Key, msg.Value):
			row.skipped, row.skipReason = true, skipTransactionMarker
		default:
			checkRow(in.checker, row, checkTime, msg.Time)
		}
		// What the row holds until its batch is stored: the message's bytes and what its
		// decoded event holds beyond them (a 64 KiB message of thousands of tiny keys holds
		// far more than 64 KiB), taken in one step once it is checked. At most one message
		// per partition is outside the budget, the one being checked.
		if row.charged, err = l.budget.acquire(ctx, row.size()+row.decodedExtra()); err != nil {
			return
		}
		select {
		case l.items <- item{row: row}: // a send that need not wait costs no select
		default:
			select {
			case l.items <- item{row: row}:
			case <-ctx.Done():
				l.budget.release(row.charged)
				return
			}
		}
		if skip != nil && skip.exhausted() && !skip.more {
			skip = nil
		}
	}
}

// release hands a partition back: everything it read is flushed and committed, or, if that
// does not happen in time (ClickHouse down), the partition is abandoned: its rows leave the
// pending inserts and are read again by the next owner. No insert carrying its rows is in
// flight when release returns.
func (in *Ingester) release(p *partition, l *lane) {
	trigger, wait := "revoke", in.cfg.Kafka.RebalanceTimeout/2
	if in.shuttingDown.Load() {
		trigger, wait = "shutdown", in.cfg.ShutdownTimeout
	}
	done := make(chan error, 1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case l.items <- item{flush: &flushRequest{trigger: trigger, done: done}}:
		select {
		case err := <-done:
			if err != nil {
				in.log.Warn("partition released without flushing", "topic", p.topic, "partition", p.id, "error", err)
			}
		case <-timer.C:
			in.log.Warn("flush on release timed out; leaving unstored rows to the next owner",
				"topic", p.topic, "partition", p.id, "waited", wait)
		}
	case <-timer.C:
	}
	p.abandoned.Store(true)
	l.sink.waitOutAttempts()
}
