package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// budgetMetrics are the in-flight budget's. A cluster's lanes each have a budget, a share
// of batch.max_inflight_bytes; they all report into this one set, so that it
// gives the ingester's totals.
type budgetMetrics struct {
	InflightBytes prometheus.Gauge
	InflightLimit prometheus.Gauge
	InflightWait  prometheus.Counter
}

// newBudgetMetrics creates the budget's metrics on reg, the limit set to limit
// (batch.max_inflight_bytes).
func newBudgetMetrics(reg prometheus.Registerer, limit int) *budgetMetrics {
	f := promauto.With(reg)
	m := &budgetMetrics{
		InflightBytes: gauge(f, "inflight_bytes",
			"Message bytes held between fetch and insert."),
		InflightLimit: gauge(f, "inflight_bytes_limit",
			"The configured bound on inflight bytes (batch.max_inflight_bytes)."),
		InflightWait: counter(f, "inflight_wait_seconds_total",
			"Seconds partitions waited for room under batch.max_inflight_bytes, summed over partitions: time ClickHouse held the ingester back."),
	}
	m.InflightLimit.Set(float64(limit))
	return m
}

// budget bounds the bytes held between fetch and insert. Readers wait for room instead of
// fetching more, so a slow or absent ClickHouse stops consumption rather than growing memory.
type budget struct {
	mu    sync.Mutex
	used  int64
	limit int64
	freed chan struct{}    // closed and replaced on every release
	gauge prometheus.Gauge // follows used; may be nil
	// waited is the time acquire spent waiting for room, summed over callers (partitions):
	// how long ClickHouse, not Kafka or the checks, held the ingester back.
	waited      atomic.Int64       // nanoseconds
	waitCounter prometheus.Counter // follows waited in seconds; may be nil
}

// newBudget returns a budget of limit bytes that reports into m; with m nil it reports
// nowhere.
func newBudget(limit int, m *budgetMetrics) *budget {
	b := &budget{limit: int64(limit), freed: make(chan struct{})}
	if m != nil {
		b.gauge, b.waitCounter = m.InflightBytes, m.InflightWait
	}
	return b
}

// addGauge reports a change of used; callers hold mu. Lanes of a cluster each have a budget
// and share the gauge, so it moves by deltas.
func (b *budget) addGauge(delta int64) {
	if b.gauge != nil {
		b.gauge.Add(float64(delta))
	}
}

// acquire takes n bytes, waiting until they fit or ctx ends, and returns what it took: a
// single message larger than the whole budget still gets through alone, charged the limit.
// Give back exactly what it returned to release.
func (b *budget) acquire(ctx context.Context, n int) (int, error) {
	want := min(int64(n), b.limit)
	var since time.Time // set once acquire has to wait
	defer func() {
		if !since.IsZero() {
			d := time.Since(since)
			b.waited.Add(int64(d))
			if b.waitCounter != nil {
				b.waitCounter.Add(d.Seconds())
			}
		}
	}()
	for {
		b.mu.Lock()
		if b.used+want <= b.limit {
			b.used += want
			b.addGauge(want)
			b.mu.Unlock()
			return int(want), nil
		}
		wait := b.freed
		b.mu.Unlock()
		if since.IsZero() {
			since = time.Now()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-wait:
		}
	}
}

// release returns n bytes taken by acquire.
func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= int64(n)
	b.addGauge(-int64(n))
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// waitedFor is the time acquire has waited for room so far, summed over its callers.
func (b *budget) waitedFor() time.Duration { return time.Duration(b.waited.Load()) }

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
