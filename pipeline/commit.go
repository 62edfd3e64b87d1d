package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/metrics"
)

// commitMetrics are the commit stage's: it hands each sealed batch to the writer and, once
// the batch is stored, counts what it stored and commits its offsets. The ledger forgets
// LastCommit's series of a partition given up, as it does its own (see newLedger).
type commitMetrics struct {
	Events        *prometheus.CounterVec
	Rejected      *prometheus.CounterVec
	Flagged       *prometheus.CounterVec
	EventToStored prometheus.Histogram
	Flushes       *prometheus.CounterVec
	Commits       *prometheus.CounterVec
	Abandoned     prometheus.Counter
	LastCommit    *prometheus.GaugeVec
	// Unknown bounds the error_type values of Events, deleting the series of a type whose
	// slot it gives to another.
	Unknown *metrics.UnknownTypes
}

// newCommitMetrics creates the commit stage's metrics on reg and exports a zero for every
// known label value: each catalog type in each environment, each reason, flag, trigger and
// result.
func newCommitMetrics(reg prometheus.Registerer, cfg MetricsConfig) *commitMetrics {
	f := promauto.With(reg)
	m := &commitMetrics{
		Events: counterVec(f, "events_total",
			"Events stored in ClickHouse, by error type, category, environment and status code.", eventLabels...),
		Rejected: counterVec(f, "rejected_total",
			"Messages stored in quarantine instead of events, by reason.", "reason"),
		Flagged: counterVec(f, "flagged_total",
			"Stored events that carry a flag, by flag (an event may carry several).", "flag"),
		EventToStored: f.NewHistogram(prometheus.HistogramOpts{Namespace: metrics.Namespace, Name: "event_to_stored_seconds",
			Help:    "Time from an event's time to its row being stored.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16)}),
		Flushes: counterVec(f, "flushes_total",
			"Batches flushed, by what triggered the flush.", "trigger"),
		Commits: counterVec(f, "commits_total",
			"Offset commits to Kafka, by result (ok, error).", "result"),
		Abandoned: counter(f, "rows_abandoned_total",
			"Rows not stored because their partition was given up first; the partition's next owner reads them again."),
		LastCommit: gaugeVec(f, "last_commit_timestamp_seconds",
			"Unix time of the last successful offset commit, per owned partition.", "topic", "partition"),
	}
	m.Unknown = metrics.NewUnknownTypes(cfg.MaxUnknownErrorTypes, func(name string) {
		m.Events.DeletePartialMatch(prometheus.Labels{"error_type": name})
	})

	for _, t := range cfg.CatalogTypes {
		for _, env := range metrics.Environments {
			m.Events.WithLabelValues(t.ErrorType, t.Category, env, t.StatusCode)
		}
	}
	for _, r := range reasons() {
		m.Rejected.WithLabelValues(r)
	}
	for _, fl := range event.AllFlags() {
		m.Flagged.WithLabelValues(fl.String())
	}
	for _, tr := range flushTriggers {
		m.Flushes.WithLabelValues(tr)
	}
	for _, r := range []string{"ok", "error"} {
		m.Commits.WithLabelValues(r)
	}
	return m
}

// flushLoop stores a lane's sealed batches, up to cfg.Batch.Inserts at once, and hands each
// result to the commit stage in the order the batches were sealed: the end of the chain. Each
// lane (shard) has its own, so a shard that is down holds back only its partitions' commits.
func (in *Ingester) flushLoop(ctx context.Context, l *lane) {
	type result struct {
		res Result
		err error
	}
	type inFlight struct {
		p    *pending
		done chan result
	}
	// With capacity Inserts-1, plus the one the commit stage waits on, at most Inserts
	// batches are being stored at once.
	ordered := make(chan inFlight, in.cfg.Batch.Inserts-1)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		for f := range ordered {
			r := <-f.done
			in.commitM.Abandoned.Add(float64(r.res.Abandoned))
			err := r.err
			if err == nil {
				in.account(r.res)
				err = in.commitOffsets(ctx, f.p, r.res)
			}
			r.res.release()
			in.finish(f.p, err)
		}
	}()
	defer func() {
		close(ordered)
		<-committed
	}()
	for {
		select {
		case <-ctx.Done():
			// What was sealed but never stored: its waiters must not hang.
			for {
				select {
				case p := <-l.batches:
					in.finish(p, ctx.Err())
				default:
					return
				}
			}
		case p := <-l.batches:
			in.commitM.Flushes.WithLabelValues(p.trigger).Inc()
			f := inFlight{p: p, done: make(chan result, 1)}
			ordered <- f
			go func() {
				res, err := p.batch.Commit(ctx)
				f.done <- result{res, err}
			}()
		}
	}
}

// lastStored calls set with each partition's offset after the last of its rows in spans.
// A partition's rows come in offset order and mostly in runs, so set is called per run.
func lastStored(buf tableRows, spans []span, set func(part *partition, next int64)) {
	var (
		cur  *partition
		next int64
	)
	eachRow(spans, func(i int) {
		p := buf.partitionOf(i)
		if p != cur && cur != nil {
			set(cur, next)
		}
		cur, next = p, buf.coordinates(i).offset+1
	})
	if cur != nil {
		set(cur, next)
	}
}

// finish releases a batch's budget and wakes whoever waits for it.
func (in *Ingester) finish(p *pending, err error) {
	p.lane.budget.release(p.bytes)
	for _, w := range p.waiters {
		w <- err
	}
}

// account counts what a commit stored, in metrics and the run summary. Events are counted
// by their dictionary keys (error type, category, environment) and turned into label values
// once per batch, not once per event.
func (in *Ingester) account(res Result) {
	type key struct {
		errorType, category, env uint32
		status                   uint16
		known, trusted           bool // trusted: known, and the status matches the catalog's
	}
	counts := map[key]int{}
	flagged := 0
	now := time.Now()
	if ev := &res.bufs.ev; len(res.events) > 0 {
		eachRow(res.events, func(i int) {
			known := ev.known.v[i] == 1
			flags := ev.flagBits[i]
			counts[key{ev.errorType.keys[i], ev.category.keys[i], ev.environment.keys[i], ev.status.v[i],
				known, known && !flags.Has(event.FlagStatusMismatch)}]++
			if flags != 0 {
				flagged++
				for _, f := range in.flags {
					if flags.Has(f) {
						in.commitM.Flagged.WithLabelValues(f.String()).Inc()
					}
				}
			}
			at := time.Unix(int64(ev.eventTime.v[i]), int64(ev.eventTimeMs.v[i])*int64(time.Millisecond))
			in.commitM.EventToStored.Observe(now.Sub(at).Seconds())
		})
		for k, n := range counts {
			t := ev.errorType.vals[k.errorType]
			if !k.known {
				t = in.commitM.Unknown.Label(t, now)
			}
			in.commitM.Events.WithLabelValues(t, ev.category.vals[k.category], ev.environment.vals[k.env],
				metrics.StatusLabel(k.status, k.trusted)).Add(float64(n))
		}
	}
	reasons := map[string]int{}
	if q := &res.bufs.q; len(res.quarantine) > 0 {
		keys := map[uint32]int{}
		eachRow(res.quarantine, func(i int) { keys[q.reason.keys[i]]++ })
		for k, n := range keys {
			reasons[q.reason.vals[k]] += n
		}
	}
	for reason, n := range reasons {
		in.commitM.Rejected.WithLabelValues(reason).Add(float64(n))
	}
	in.statsMu.Lock()
	in.stats.Stored += int64(res.Events)
	in.stats.Quarantined += int64(res.Quarantine)
	in.stats.ServerRejected += int64(reasons[ReasonServerRejected])
	in.stats.ClientRejected += int64(reasons[ReasonClientRejected])
	in.stats.Flagged += int64(flagged)
	in.statsMu.Unlock()
}

// commitOffsets advances the ledger and commits to Kafka the offsets a stored batch covers.
// Resolved moves before the commit, so the committed offset never passes it.
func (in *Ingester) commitOffsets(ctx context.Context, p *pending, res Result) error {
	if res.bufs != nil {
		lastStored(&res.bufs.ev, res.events, func(part *partition, next int64) { part.storedG.Set(float64(next)) })
		lastStored(&res.bufs.q, res.quarantine, func(part *partition, next int64) { part.quarantinedG.Set(float64(next)) })
	}
	byGen := map[*kafka.Generation]map[string]map[int]int64{}
	for part, next := range p.next {
		if part.abandoned.Load() {
			continue
		}
		part.resolved.Store(next)
		if byGen[part.gen] == nil {
			byGen[part.gen] = map[string]map[int]int64{}
		}
		if byGen[part.gen][part.topic] == nil {
			byGen[part.gen][part.topic] = map[int]int64{}
		}
		byGen[part.gen][part.topic][int(part.id)] = next
	}
	var errs []error
	for gen, offsets := range byGen {
		if err := gen.CommitOffsets(offsets); err != nil {
			// Not fatal for the data: the rows are stored, and a later commit or the next
			// owner's skip covers them. But whoever waits for this batch (a revoke, a drain)
			// must hear that the commit did not happen.
			in.commitM.Commits.WithLabelValues("error").Inc()
			in.log.Warn("offset commit failed", "generation", gen.ID, "error", err)
			errs = append(errs, fmt.Errorf("commit offsets %v of generation %d: %w", offsets, gen.ID, err))
			continue
		}
		in.commitM.Commits.WithLabelValues("ok").Inc()
		now := float64(time.Now().Unix())
		for part := range p.next {
			if part.gen != gen || part.abandoned.Load() {
				continue
			}
			part.committed.Store(p.next[part])
			part.committedG.Set(float64(p.next[part]))
			in.commitM.LastCommit.WithLabelValues(part.topic, part.label).Set(now)
		}
	}
	return errors.Join(errs...)
}
