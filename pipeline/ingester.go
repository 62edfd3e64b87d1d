package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/kafkaconn"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/schema"
)

// Ingester consumes error events from Kafka as a consumer group and stores each one exactly
// once in ClickHouse.
type Ingester struct {
	cfg     *config.Config
	log     *slog.Logger
	m       *metrics.Ingest
	checker *event.Checker
	sink    *Sink
	conn    driver.Conn
	client  *kafka.Client
	dialer  *kafka.Dialer
	ledger  *ledger
	budget  *budget

	items   chan item
	batches chan *pending

	flags []event.Flags // every flag, for counting them per event without allocating

	shuttingDown atomic.Bool
	stats        Summary
	statsMu      sync.Mutex
}

// Summary counts what a run did; Drain prints it.
type Summary struct {
	Consumed       int64
	Skipped        int64
	Stored         int64
	Quarantined    int64
	ServerRejected int64
	ClientRejected int64
	Markers        int64 // transaction markers read and skipped
	Flagged        int64
	Elapsed        time.Duration
}

// EventsPerSecond is messages resolved (stored, quarantined or skipped) per second.
func (s Summary) EventsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Stored+s.Quarantined+s.Skipped+s.Markers) / s.Elapsed.Seconds()
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

// pending is a sealed batch on its way to the sink.
type pending struct {
	batch   *Batch
	next    map[*partition]int64 // offset to commit per partition once stored
	bytes   int                  // budget to release, skipped rows included
	trigger string
	waiters []chan error
}

// New builds an ingester. conn must reach a database with the schema applied; every Kafka
// connection (group, partition readers, offset and lag calls) is made through kc.
func New(cfg *config.Config, checker *event.Checker, conn driver.Conn, kc *kafkaconn.Connector, m *metrics.Ingest, log *slog.Logger) (*Ingester, error) {
	sink, err := NewSink(context.Background(), conn, cfg.ClickHouse.Database, cfg.Retry, cfg.Batch.InsertTimeout, m, log)
	if err != nil {
		return nil, err
	}
	m.InflightLimit.Set(float64(cfg.Batch.MaxInflightBytes))
	for _, t := range cfg.Kafka.Topics {
		m.OffsetsReused.WithLabelValues(t)
	}
	return &Ingester{
		cfg: cfg, log: log, m: m, checker: checker, sink: sink, conn: conn,
		client:  kc.Client(10 * time.Second),
		dialer:  kc.Dialer(),
		ledger:  newLedger(m),
		flags:   event.AllFlags(),
		budget:  newBudget(cfg.Batch.MaxInflightBytes, m.InflightBytes),
		items:   make(chan item, 4096),
		batches: make(chan *pending, 1),
	}, nil
}

// LeaveGrace is how long a shutdown past its timeout still waits to leave the group. A
// supervisor must allow ingest.shutdown_timeout + LeaveGrace before it kills the process
// (Kubernetes terminationGracePeriodSeconds, compose stop_grace_period; deploy/ tests check).
const LeaveGrace = 5 * time.Second

// RunOptions change how Run ends.
type RunOptions struct {
	// Drain ends the run once every partition's committed offset reaches the end offset seen
	// at start.
	Drain bool
	// StopAt, with Drain, replaces the end offsets seen at start (topic, partition, offset):
	// a replay ends once the group's committed offsets reach it. Messages fetched past it
	// before the end are stored too (never twice: the skip read applies).
	StopAt map[string]map[int]int64
}

// Run consumes until ctx ends (or, with Drain, until caught up), then stops fetching,
// flushes, commits and leaves the group within cfg.Ingest.ShutdownTimeout.
func (in *Ingester) Run(ctx context.Context, opts RunOptions) (Summary, error) {
	start := time.Now()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	var drainDone chan error
	if opts.Drain {
		ends, err := in.endOffsets(ctx)
		if err != nil {
			return Summary{}, err
		}
		if opts.StopAt != nil {
			ends = map[tp]int64{}
			for topic, parts := range opts.StopAt {
				for p, off := range parts {
					ends[tp{topic, p}] = off
				}
			}
		}
		drainDone = make(chan error, 1)
		go func() { drainDone <- in.waitCaughtUp(runCtx, ends); stop() }()
	}

	// The batcher and sink outlive runCtx: on shutdown they still have to flush what the
	// partitions hand over, until the shutdown timeout.
	loopCtx, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()
	var loops sync.WaitGroup
	loops.Add(3)
	go func() { defer loops.Done(); in.batchLoop(loopCtx) }()
	go func() { defer loops.Done(); in.flushLoop(loopCtx) }()
	go func() { defer loops.Done(); in.watchLoop(loopCtx) }()

	startOffset := kafka.FirstOffset
	if in.cfg.Kafka.StartOffset == "latest" {
		startOffset = kafka.LastOffset
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                in.cfg.Kafka.Group,
		Brokers:           in.cfg.Kafka.Brokers,
		Topics:            in.cfg.Kafka.Topics,
		SessionTimeout:    in.cfg.Kafka.SessionTimeout,
		HeartbeatInterval: in.cfg.Kafka.HeartbeatInterval,
		RebalanceTimeout:  in.cfg.Kafka.RebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		StartOffset:       startOffset,
		Dialer:            in.dialer,
		// Partitions added to a topic while running are assigned by the next rebalance,
		// which this starts: without it they wait for some other member to come or go.
		WatchPartitionChanges: true,
		ErrorLogger:           kafka.LoggerFunc(func(msg string, args ...any) { in.log.Debug("kafka: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return Summary{}, fmt.Errorf("join consumer group %s at %v: %w", in.cfg.Kafka.Group, in.cfg.Kafka.Brokers, err)
	}
	in.log.Info("consuming", "group", in.cfg.Kafka.Group, "topics", in.cfg.Kafka.Topics, "brokers", in.cfg.Kafka.Brokers)

	for {
		gen, err := group.Next(runCtx)
		if err != nil {
			if runCtx.Err() != nil {
				break
			}
			in.m.KafkaErrors.WithLabelValues("join").Inc()
			in.log.Warn("consumer group error; rejoining", "group", in.cfg.Kafka.Group, "error", err)
			continue
		}
		in.m.Rebalances.Inc()
		n := 0
		for topic, parts := range gen.Assignments {
			for _, a := range parts {
				topic, a := topic, a
				n++
				gen.Start(func(gctx context.Context) { in.consume(gctx, gen, topic, a) })
			}
		}
		in.log.Info("partitions assigned", "generation", gen.ID, "partitions", n)
	}

	// Shut down: closing the group ends the generation; each partition flushes and commits
	// before the group is left. Past the timeout, stop waiting for ClickHouse.
	in.shuttingDown.Store(true)
	in.log.Info("shutting down: flushing, committing, leaving the group", "timeout", in.cfg.Ingest.ShutdownTimeout)
	closed := make(chan struct{})
	go func() { _ = group.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(in.cfg.Ingest.ShutdownTimeout):
		in.log.Error("shutdown timeout: giving up on unstored rows; they will be read again", "timeout", in.cfg.Ingest.ShutdownTimeout)
		stopLoops()
		// Leaving the group needs the broker; when it is gone the session simply expires.
		// Exiting now is as safe as a crash: nothing past what is stored was committed.
		select {
		case <-closed:
		case <-time.After(LeaveGrace):
			in.log.Error("could not leave the consumer group; exiting without it", "waited", LeaveGrace)
		}
	}
	stopLoops()
	loops.Wait()

	in.statsMu.Lock()
	sum := in.stats
	in.statsMu.Unlock()
	sum.Elapsed = time.Since(start)
	if drainDone != nil {
		if err := <-drainDone; err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// consume reads one assigned partition until its generation ends, then hands over what it
// read for flushing.
func (in *Ingester) consume(ctx context.Context, gen *kafka.Generation, topic string, a kafka.PartitionAssignment) {
	assigned := time.Now()
	p := in.ledger.own(gen, topic, a.ID, a.Offset)
	defer in.ledger.disown(p)
	defer in.release(p)

	// What a previous owner stored without committing is skipped, not stored twice. Its
	// inserts still running are waited out first, so that the read sees all it will store.
	readStored := func(from int64, fence bool) (*offsetSet, bool) {
		for attempt := 0; ; attempt++ {
			var err error
			if fence {
				err = in.sink.Fence(ctx, assigned)
			}
			if err == nil {
				var set *offsetSet
				if set, err = in.sink.StoredOffsets(ctx, topic, p.id, from); err == nil {
					return set, true
				}
			}
			if ctx.Err() != nil {
				return nil, false
			}
			in.m.KafkaErrors.WithLabelValues("stored_offsets").Inc()
			in.log.Warn("cannot read stored offsets; partition waits", "topic", topic, "partition", a.ID, "error", err)
			if sleep(ctx, in.sink.backoff(Classify(err), attempt)) != nil {
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

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   in.cfg.Kafka.Brokers,
		Topic:     topic,
		Partition: a.ID,
		MinBytes:  in.cfg.Kafka.MinFetchBytes,
		MaxBytes:  in.cfg.Kafka.MaxFetchBytes,
		MaxWait:   in.cfg.Kafka.MaxWait,
		Dialer:    in.dialer,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			in.log.Debug("kafka reader: "+fmt.Sprintf(msg, args...), "topic", topic, "partition", a.ID)
		}),
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		in.m.KafkaErrors.WithLabelValues("seek").Inc()
		in.log.Error("cannot seek", "topic", topic, "partition", a.ID, "offset", a.Offset, "error", err)
		return
	}
	reuseLogged := false // once per partition assignment
	for attempt := 0; ; {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			in.m.KafkaErrors.WithLabelValues("fetch").Inc()
			in.log.Warn("fetch failed; retrying", "topic", topic, "partition", a.ID, "error", err)
			if sleep(ctx, in.sink.backoff(ClassRetryable, attempt)) != nil {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		row, checkTime := newRow(topic, p, msg, time.Now())
		if row.charged, err = in.budget.acquire(ctx, row.size()); err != nil {
			return
		}
		p.read(msg.Offset, checkTime)
		if skip != nil && skip.until > 0 && msg.Offset >= skip.until {
			if !skip.more {
				skip = nil
			} else if skip, ok = readStored(msg.Offset, false); !ok {
				in.budget.release(row.charged)
				return
			}
		}
		var stored, reused bool
		if skip != nil {
			stored, reused = skip.match(msg.Offset, row.fingerprint)
		}
		if reused {
			in.m.OffsetsReused.WithLabelValues(topic).Inc()
			if !reuseLogged {
				reuseLogged = true
				in.log.Warn("rows of another message are stored at this offset (a recreated topic, or another cluster with the same topic name?); storing the new message too",
					"topic", topic, "partition", a.ID, "offset", msg.Offset)
			}
		}
		switch {
		case stored:
			row.skipped, row.skipReason = true, SkipAlreadyStored
		case isTransactionMarker(msg.Key, msg.Value):
			row.skipped, row.skipReason = true, SkipTransactionMarker
		default:
			checkRow(in.checker, row, checkTime, msg.Time)
			// What the message costs once decoded, beyond its bytes: a 64 KiB message of
			// thousands of tiny keys holds far more than 64 KiB.
			// Never more than the limit in all, or a lone huge row would wait for itself.
			if extra := min(row.decodedExtra(), in.cfg.Batch.MaxInflightBytes-row.charged); extra > 0 {
				n, err := in.budget.acquire(ctx, extra)
				row.charged += n
				if err != nil {
					in.budget.release(row.charged)
					return
				}
			}
		}
		select {
		case in.items <- item{row: row}:
		case <-ctx.Done():
			in.budget.release(row.charged)
			return
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
func (in *Ingester) release(p *partition) {
	trigger, wait := "revoke", in.cfg.Kafka.RebalanceTimeout/2
	if in.shuttingDown.Load() {
		trigger, wait = "shutdown", in.cfg.Ingest.ShutdownTimeout
	}
	done := make(chan error, 1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case in.items <- item{flush: &flushRequest{trigger: trigger, done: done}}:
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
	in.sink.waitOutAttempts()
}

// batchLoop gathers rows into batches and seals them on rows, bytes, age or request.
func (in *Ingester) batchLoop(ctx context.Context) {
	var (
		cur     = in.sink.Begin()
		next    = map[*partition]int64{}
		bytes   int
		first   time.Time
		waiters []chan error
	)
	seal := func(trigger string) {
		if cur.Len() == 0 && len(next) == 0 && len(waiters) == 0 {
			return
		}
		p := &pending{batch: cur, next: next, bytes: bytes, trigger: trigger, waiters: waiters}
		select {
		case in.batches <- p:
		case <-ctx.Done():
			// Shutting down past its timeout: answer the waiters once, here, and forget the
			// batch (its rows were not stored and are read again).
			for _, w := range waiters {
				w <- ctx.Err()
			}
			in.budget.release(bytes)
		}
		cur, next, bytes, first, waiters = in.sink.Begin(), map[*partition]int64{}, 0, time.Time{}, nil
	}
	tick := time.NewTicker(max(in.cfg.Batch.MaxAge/4, 5*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			in.budget.release(bytes)
			for _, w := range waiters {
				w <- ctx.Err()
			}
			return
		case it := <-in.items:
			if it.flush != nil {
				waiters = append(waiters, it.flush.done)
				seal(it.flush.trigger)
				continue
			}
			r := it.row
			if first.IsZero() {
				first = time.Now()
			}
			in.statsMu.Lock()
			in.stats.Consumed++
			switch r.skipReason {
			case SkipAlreadyStored:
				in.stats.Skipped++
			case SkipTransactionMarker:
				in.stats.Markers++
			}
			in.statsMu.Unlock()
			if r.skipped {
				in.m.Skipped.WithLabelValues(r.skipReason).Inc()
			} else {
				cur.Append(r)
			}
			next[r.part] = r.Offset + 1
			bytes += r.charged
			switch {
			case cur.Len() >= in.cfg.Batch.MaxRows:
				seal("rows")
			case cur.Bytes() >= in.cfg.Batch.MaxBytes:
				seal("bytes")
			}
		case <-tick.C:
			if !first.IsZero() && time.Since(first) >= in.cfg.Batch.MaxAge {
				seal("age")
			}
		}
	}
}

// flushLoop stores sealed batches, up to cfg.Batch.Inserts at once, and hands each result to
// the commit stage in the order the batches were sealed: the end of the chain.
func (in *Ingester) flushLoop(ctx context.Context) {
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
			in.m.Abandoned.Add(float64(r.res.Abandoned))
			err := r.err
			if err == nil {
				in.account(r.res)
				err = in.commitOffsets(ctx, f.p, r.res)
			}
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
				case p := <-in.batches:
					in.finish(p, ctx.Err())
				default:
					return
				}
			}
		case p := <-in.batches:
			in.m.Flushes.WithLabelValues(p.trigger).Inc()
			f := inFlight{p: p, done: make(chan result, 1)}
			ordered <- f
			go func() {
				res, err := p.batch.Commit(ctx)
				f.done <- result{res, err}
			}()
		}
	}
}

// finish releases a batch's budget and wakes whoever waits for it.
func (in *Ingester) finish(p *pending, err error) {
	in.budget.release(p.bytes)
	for _, w := range p.waiters {
		w <- err
	}
}

// account counts what a commit stored, in metrics and the run summary.
func (in *Ingester) account(res Result) {
	type key struct {
		errorType, category, env, status string
	}
	counts := map[key]int{}
	flagged := 0
	now := time.Now()
	for _, r := range res.Events {
		e := &r.Event
		t := e.ErrorType
		if !e.Known {
			t = in.m.Unknown.Label(t, now)
		}
		status := metrics.StatusLabel(e.StatusCode, e.Known && !e.Flags.Has(event.FlagStatusMismatch))
		counts[key{t, e.Category, e.Environment, status}]++
		if e.Flags != 0 {
			flagged++
			for _, f := range in.flags {
				if e.Flags.Has(f) {
					in.m.Flagged.WithLabelValues(f.String()).Inc()
				}
			}
		}
		in.m.EventToStored.Observe(now.Sub(e.Time).Seconds())
	}
	for k, n := range counts {
		in.m.Events.WithLabelValues(k.errorType, k.category, k.env, k.status).Add(float64(n))
	}
	reasons := map[string]int{}
	for _, r := range res.Quarantine {
		reasons[r.Reason]++
	}
	for reason, n := range reasons {
		in.m.Rejected.WithLabelValues(reason).Add(float64(n))
	}
	in.statsMu.Lock()
	in.stats.Stored += int64(len(res.Events))
	in.stats.Quarantined += int64(len(res.Quarantine))
	in.stats.ServerRejected += int64(reasons[ReasonServerRejected])
	in.stats.ClientRejected += int64(reasons[ReasonClientRejected])
	in.stats.Flagged += int64(flagged)
	in.statsMu.Unlock()
}

// commitOffsets advances the ledger and commits to Kafka the offsets a stored batch covers.
// Resolved moves before the commit, so the committed offset never passes it.
func (in *Ingester) commitOffsets(ctx context.Context, p *pending, res Result) error {
	for _, r := range res.Events {
		r.part.storedG.Set(float64(r.Offset + 1))
	}
	for _, r := range res.Quarantine {
		r.part.quarantinedG.Set(float64(r.Offset + 1))
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
			in.m.Commits.WithLabelValues("error").Inc()
			in.log.Warn("offset commit failed", "generation", gen.ID, "error", err)
			errs = append(errs, fmt.Errorf("commit offsets %v of generation %d: %w", offsets, gen.ID, err))
			continue
		}
		in.m.Commits.WithLabelValues("ok").Inc()
		now := float64(time.Now().Unix())
		for part := range p.next {
			if part.gen != gen || part.abandoned.Load() {
				continue
			}
			part.committed.Store(p.next[part])
			part.committedG.Set(float64(p.next[part]))
			in.m.LastCommit.WithLabelValues(part.topic, part.label).Set(now)
		}
	}
	return errors.Join(errs...)
}

// watchLoop refreshes lag and checks the ledger against Kafka's committed offsets.
func (in *Ingester) watchLoop(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		owned := in.ledger.snapshot()
		if len(owned) == 0 {
			continue
		}
		ends, err := in.listEnds(ctx, owned)
		if err != nil {
			in.log.Debug("lag: list offsets failed", "error", err)
		}
		committed, err := in.groupCommitted(ctx, owned)
		if err != nil {
			in.log.Debug("ledger: offset fetch failed", "error", err)
		}
		now := time.Now()
		for _, p := range owned {
			k := tp{p.topic, int(p.id)}
			if end, ok := ends[k]; ok {
				lag := max(end-p.consumed.Load(), 0)
				in.m.LagMessages.WithLabelValues(p.topic, p.label).Set(float64(lag))
				secs := 0.0
				if t := p.lastMsgTime.Load(); lag > 0 && t > 0 {
					secs = now.Sub(time.Unix(0, t)).Seconds()
				}
				in.m.LagSeconds.WithLabelValues(p.topic, p.label).Set(secs)
			}
			if c, ok := committed[k]; ok && p.breach(c) {
				in.m.LedgerBreaches.WithLabelValues(p.topic, p.label).Inc()
				in.log.Error("offset ledger breach: committed offset is past unstored messages",
					"topic", p.topic, "partition", p.id, "committed", c, "resolved", p.resolved.Load())
			}
		}
	}
}

type tp struct {
	topic     string
	partition int
}

func (in *Ingester) listEnds(ctx context.Context, parts []*partition) (map[tp]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[p.topic] = append(req.Topics[p.topic], kafka.LastOffsetOf(int(p.id)))
	}
	return in.listOffsets(ctx, req)
}

// listOffsets answers req with each partition's end offset.
func (in *Ingester) listOffsets(ctx context.Context, req *kafka.ListOffsetsRequest) (map[tp]int64, error) {
	return in.listOffsetsOf(ctx, req, func(po kafka.PartitionOffsets) int64 { return po.LastOffset })
}

// listOffsetsOf answers req with the offset pick takes from each partition's answer;
// partitions that answered with an error are left out.
func (in *Ingester) listOffsetsOf(ctx context.Context, req *kafka.ListOffsetsRequest, pick func(kafka.PartitionOffsets) int64) (map[tp]int64, error) {
	resp, err := in.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	for topic, parts := range resp.Topics {
		for _, po := range parts {
			if po.Error == nil {
				out[tp{topic, po.Partition}] = pick(po)
			}
		}
	}
	return out, nil
}

func (in *Ingester) groupCommitted(ctx context.Context, parts []*partition) (map[tp]int64, error) {
	req := &kafka.OffsetFetchRequest{GroupID: in.cfg.Kafka.Group, Topics: map[string][]int{}}
	for _, p := range parts {
		req.Topics[p.topic] = append(req.Topics[p.topic], int(p.id))
	}
	return in.offsetFetch(ctx, req)
}

func (in *Ingester) offsetFetch(ctx context.Context, req *kafka.OffsetFetchRequest) (map[tp]int64, error) {
	resp, err := in.client.OffsetFetch(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	if resp.Error != nil {
		// A group that never committed answers GROUP_ID_NOT_FOUND: nothing committed yet.
		if errors.Is(resp.Error, kafka.GroupIdNotFound) {
			return out, nil
		}
		return nil, resp.Error
	}
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if p.Error == nil && p.CommittedOffset >= 0 {
				out[tp{topic, p.Partition}] = p.CommittedOffset
			}
		}
	}
	return out, nil
}

// endOffsets returns the end offset of every partition of the configured topics that has
// anything to read: a partition whose log start equals its end (never written, or emptied by
// retention or DeleteRecords) is left out, as no commit will ever move its offset.
func (in *Ingester) endOffsets(ctx context.Context) (map[tp]int64, error) {
	meta, err := in.client.Metadata(ctx, &kafka.MetadataRequest{Topics: in.cfg.Kafka.Topics})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata from %v: %w", in.cfg.Kafka.Brokers, err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("kafka topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	ends, err := in.listOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("kafka end offsets from %v: %w", in.cfg.Kafka.Brokers, err)
	}
	starts, err := in.startOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("kafka start offsets from %v: %w", in.cfg.Kafka.Brokers, err)
	}
	for k, end := range ends {
		if start, ok := starts[k]; ok && start >= end {
			delete(ends, k)
		}
	}
	return ends, nil
}

// startOffsets returns the log start offset of each partition of an end-offset request.
func (in *Ingester) startOffsets(ctx context.Context, ends *kafka.ListOffsetsRequest) (map[tp]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for topic, parts := range ends.Topics {
		for _, p := range parts {
			req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p.Partition))
		}
	}
	return in.listOffsetsOf(ctx, req, func(po kafka.PartitionOffsets) int64 { return po.FirstOffset })
}

// waitCaughtUp returns once the group's committed offsets reach ends everywhere.
func (in *Ingester) waitCaughtUp(ctx context.Context, ends map[tp]int64) error {
	req := &kafka.OffsetFetchRequest{GroupID: in.cfg.Kafka.Group, Topics: map[string][]int{}}
	for k, end := range ends {
		if end > 0 {
			req.Topics[k.topic] = append(req.Topics[k.topic], k.partition)
		}
	}
	if len(req.Topics) == 0 {
		return nil
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain interrupted: %w", ctx.Err())
		case <-tick.C:
		}
		committed, err := in.offsetFetch(ctx, req)
		if err != nil {
			continue
		}
		caught := true
		for k, end := range ends {
			if end > 0 && committed[k] < end {
				caught = false
				break
			}
		}
		if caught {
			return nil
		}
	}
}

// Ready reports whether the ingester can do its job: ClickHouse answers with the schema in
// place and Kafka answers.
func (in *Ingester) Ready(ctx context.Context) error {
	if err := in.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	pending, err := schema.Pending(ctx, schema.Native(in.conn), in.cfg.ClickHouse.Database)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if len(pending) > 0 {
		return fmt.Errorf("schema: migrations %v not applied", pending)
	}
	if err := in.sink.fatalError(); err != nil {
		return fmt.Errorf("clickhouse refuses inserts until someone acts: %w", err)
	}
	if _, err := in.client.Metadata(ctx, &kafka.MetadataRequest{Topics: in.cfg.Kafka.Topics}); err != nil {
		return fmt.Errorf("kafka at %v: %w", in.cfg.Kafka.Brokers, err)
	}
	return nil
}
