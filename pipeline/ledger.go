package pipeline

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"
)

// ledgerMetrics are the offset ledger's, per owned partition. The ledger creates each
// partition's series when it is assigned (the committer sets the stored, quarantined and
// committed offsets through the partition) and deletes them when it is given up.
type ledgerMetrics struct {
	OffsetConsumed    *prometheus.GaugeVec
	OffsetStored      *prometheus.GaugeVec
	OffsetQuarantined *prometheus.GaugeVec
	OffsetCommitted   *prometheus.GaugeVec
	// Consumed moves with OffsetConsumed: partition.read counts each message it records.
	Consumed *prometheus.CounterVec
	Assigned prometheus.Gauge
}

// newLedgerMetrics creates the ledger's metrics on reg. They have no label values to
// export at zero: partitions get theirs once owned.
func newLedgerMetrics(reg prometheus.Registerer) *ledgerMetrics {
	f := promauto.With(reg)
	return &ledgerMetrics{
		OffsetConsumed: gaugeVec(f, "offset_consumed",
			"Next offset to read (last offset read + 1), per owned partition.", "topic", "partition"),
		OffsetStored: gaugeVec(f, "offset_stored",
			"Last offset + 1 whose row is stored in events, per owned partition.", "topic", "partition"),
		OffsetQuarantined: gaugeVec(f, "offset_quarantined",
			"Last offset + 1 whose row is stored in quarantine, per owned partition.", "topic", "partition"),
		OffsetCommitted: gaugeVec(f, "offset_committed",
			"Offset committed to Kafka (next to read), per owned partition.", "topic", "partition"),
		Consumed: counterVec(f, "messages_consumed_total",
			"Messages read from Kafka, by topic.", "topic"),
		Assigned: gauge(f, "assigned_partitions",
			"Partitions this ingester owns now."),
	}
}

// partition is the state of one owned partition for one consumer-group generation. Its
// offsets form the ledger: consumed >= resolved >= committed must always hold, where resolved
// is the offset below which every message is stored in events or quarantine (or was found
// already stored).
type partition struct {
	topic string
	id    int32
	gen   *kafka.Generation
	label string // partition number as a label value

	// abandoned is set when the partition is given up with rows not yet stored: those rows
	// are dropped from pending inserts and left to the partition's next owner.
	abandoned atomic.Bool

	consumed    atomic.Int64 // next offset to read
	resolved    atomic.Int64 // every offset below is stored, quarantined or skipped
	committed   atomic.Int64 // last offset committed to Kafka by us; -1 before the first
	lastMsgTime atomic.Int64 // Kafka time (unix ns) of the last message read

	consumedG, storedG, quarantinedG, committedG prometheus.Gauge
	consumedC                                    prometheus.Counter
}

// ledger tracks the partitions this ingester owns.
type ledger struct {
	m *ledgerMetrics
	// others are the (topic, partition) series other stages keep per owned partition (the
	// lag watcher's, the committer's last commit): gone with the partition like m's.
	others []*prometheus.GaugeVec
	mu     sync.Mutex
	owned  map[*partition]struct{}
}

// newLedger returns a ledger that owns nothing yet. others are the series other stages
// export per owned partition, labelled topic and partition, which disown deletes too.
func newLedger(m *ledgerMetrics, others ...*prometheus.GaugeVec) *ledger {
	return &ledger{m: m, others: others, owned: map[*partition]struct{}{}}
}

// own registers a newly assigned partition starting at offset start (the group's committed
// offset, already known stored).
func (l *ledger) own(gen *kafka.Generation, topic string, id int, start int64) *partition {
	label := strconv.Itoa(id)
	p := &partition{
		topic: topic, id: int32(id), gen: gen, label: label,
		consumedG:    l.m.OffsetConsumed.WithLabelValues(topic, label),
		storedG:      l.m.OffsetStored.WithLabelValues(topic, label),
		quarantinedG: l.m.OffsetQuarantined.WithLabelValues(topic, label),
		committedG:   l.m.OffsetCommitted.WithLabelValues(topic, label),
		consumedC:    l.m.Consumed.WithLabelValues(topic),
	}
	if start >= 0 {
		p.consumed.Store(start)
		p.resolved.Store(start)
		p.committed.Store(start)
		p.consumedG.Set(float64(start))
		p.committedG.Set(float64(start))
	} else {
		// No commit yet: nothing is known stored, and the skip set covers the whole log.
		p.committed.Store(-1)
	}
	l.mu.Lock()
	l.owned[p] = struct{}{}
	n := len(l.owned)
	l.mu.Unlock()
	l.m.Assigned.Set(float64(n))
	return p
}

// disown forgets a partition given up; its series go too, so only owned partitions report.
func (l *ledger) disown(p *partition) {
	l.mu.Lock()
	delete(l.owned, p)
	n := len(l.owned)
	still := false
	for q := range l.owned {
		if q.topic == p.topic && q.id == p.id {
			still = true
		}
	}
	l.mu.Unlock()
	l.m.Assigned.Set(float64(n))
	if still {
		return
	}
	for _, v := range append([]*prometheus.GaugeVec{l.m.OffsetConsumed, l.m.OffsetStored, l.m.OffsetQuarantined,
		l.m.OffsetCommitted}, l.others...) {
		v.DeleteLabelValues(p.topic, p.label)
	}
}

func (l *ledger) snapshot() []*partition {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*partition, 0, len(l.owned))
	for p := range l.owned {
		out = append(out, p)
	}
	return out
}

// read records a message read at offset with Kafka time t.
func (p *partition) read(offset int64, t time.Time) {
	p.consumed.Store(offset + 1)
	p.consumedG.Set(float64(offset + 1))
	p.lastMsgTime.Store(t.UnixNano())
	p.consumedC.Inc()
}

// breach reports whether Kafka's committed offset for the partition is past what is stored:
// messages below it that are in neither table would never be read again.
func (p *partition) breach(kafkaCommitted int64) bool {
	return kafkaCommitted >= 0 && kafkaCommitted > p.resolved.Load()
}
