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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/kafkaconn"
	"github.com/faultline/faultline/schema"
)

// Ingester consumes error events from Kafka as a consumer group and stores each one exactly
// once in ClickHouse.
type Ingester struct {
	cfg     Config
	log     *slog.Logger
	checker *event.Checker
	sink    *Sink // the first lane's; on a single server the only one
	conn    driver.Conn
	admin   *admin // offsets, for the drain and the lag watcher
	dialer  *kafka.Dialer
	ledger  *ledger
	lag     *lagWatcher
	lanes   *lanes
	// items is the first lane's; on a single server every partition's rows go through it.
	items chan item
	// shardConns are the connections to each shard of a cluster, closed by Close.
	shardConns []driver.Conn

	flags []event.Flags // every flag, for counting them per event without allocating

	// The metrics of the stages that run as the Ingester's methods; the ledger, the lag
	// watcher, the lanes' budgets and the sinks hold their own.
	sourceM  *sourceMetrics
	batcherM *batcherMetrics
	commitM  *commitMetrics

	shuttingDown atomic.Bool
	stats        Summary
	statsMu      sync.Mutex
	// rows are the Rows a partition reads messages into; the batcher hands each back once
	// its fields are in the batch's columns (see rowPool).
	rows rowPool
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
	// HeldForRoom is how long partitions waited for room under batch.max_inflight_bytes,
	// summed over partitions (faultline_inflight_wait_seconds_total).
	HeldForRoom time.Duration
}

// EventsPerSecond is messages resolved (stored, quarantined or skipped) per second.
func (s Summary) EventsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Stored+s.Quarantined+s.Skipped+s.Markers) / s.Elapsed.Seconds()
}

// New builds an ingester. conn must reach a database with the schema applied; every Kafka
// connection (group, partition readers, offset and lag calls) is made through kc. With
// cfg.Cluster set it also connects to each shard's replicas (see lane.go).
func New(cfg Config, checker *event.Checker, conn driver.Conn, kc *kafkaconn.Connector, reg prometheus.Registerer, log *slog.Logger) (*Ingester, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	sink, err := newSink(ctx, conn, cfg.Writer, newWriterMetrics(reg), log)
	if err != nil {
		return nil, err
	}
	// Every stage's metrics on the one registry; the writer's are the sink's (above).
	commitM := newCommitMetrics(reg, cfg.Metrics)
	lagM := newLagMetrics(reg)
	budgetM := newBudgetMetrics(reg, cfg.Batch.MaxInflightBytes)
	a := &admin{client: kc.Client(10 * time.Second), group: cfg.Kafka.Group, topics: cfg.Kafka.Topics, brokers: cfg.Kafka.Brokers}
	l := newLedger(newLedgerMetrics(reg), lagM.LagMessages, lagM.LagSeconds, commitM.LastCommit)
	in := &Ingester{
		cfg: cfg, log: log, checker: checker, conn: conn,
		admin:    a,
		dialer:   kc.Dialer(),
		ledger:   l,
		lag:      newLagWatcher(a, l, lagM, log),
		flags:    event.AllFlags(),
		sourceM:  newSourceMetrics(reg, cfg.Kafka.Topics),
		batcherM: newBatcherMetrics(reg),
		commitM:  commitM,
	}
	sink.reread = in.reread
	if cfg.Cluster == nil {
		in.lanes = &lanes{all: []*lane{newLane("", 0, sink, newBudget(cfg.Batch.MaxInflightBytes, budgetM))}}
	} else if err := in.clusterLanes(ctx, sink, cfg.Cluster, budgetM); err != nil {
		return nil, err
	}
	in.sink, in.items = in.lanes.all[0].sink, in.lanes.all[0].items
	return in, nil
}

// Close closes the connections the ingester opened itself (to a cluster's shards).
func (in *Ingester) Close() error {
	var errs []error
	for _, c := range in.shardConns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
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
// flushes, commits and leaves the group within cfg.ShutdownTimeout.
func (in *Ingester) Run(ctx context.Context, opts RunOptions) (Summary, error) {
	start := time.Now()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	var drainDone chan error
	if opts.Drain {
		ends, err := in.admin.endOffsets(ctx)
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
		go func() { drainDone <- in.admin.waitCaughtUp(runCtx, ends); stop() }()
	}

	// The batcher and sink outlive runCtx: on shutdown they still have to flush what the
	// partitions hand over, until the shutdown timeout.
	loopCtx, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()
	var loops sync.WaitGroup
	for _, l := range in.lanes.all {
		loops.Add(2)
		go func() { defer loops.Done(); in.batchLoop(loopCtx, l) }()
		go func() { defer loops.Done(); in.flushLoop(loopCtx, l) }()
	}
	loops.Add(1)
	go func() { defer loops.Done(); in.lag.run(loopCtx) }()

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
			in.sourceM.KafkaErrors.WithLabelValues("join").Inc()
			in.log.Warn("consumer group error; rejoining", "group", in.cfg.Kafka.Group, "error", err)
			continue
		}
		in.sourceM.Rebalances.Inc()
		n := 0
		var released sync.WaitGroup
		for topic, parts := range gen.Assignments {
			for _, a := range parts {
				topic, a := topic, a
				n++
				released.Add(1)
				gen.Start(func(gctx context.Context) { defer released.Done(); in.consume(gctx, gen, topic, a) })
			}
		}
		gen.Start(func(gctx context.Context) { in.keepMembership(gctx, gen, &released) })
		in.log.Info("partitions assigned", "generation", gen.ID, "partitions", n)
	}

	// Shut down: closing the group ends the generation; each partition flushes and commits
	// before the group is left. Past the timeout, stop waiting for ClickHouse.
	in.shuttingDown.Store(true)
	in.log.Info("shutting down: flushing, committing, leaving the group", "timeout", in.cfg.ShutdownTimeout)
	closed := make(chan struct{})
	go func() { _ = group.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(in.cfg.ShutdownTimeout):
		in.log.Error("shutdown timeout: giving up on unstored rows; they will be read again", "timeout", in.cfg.ShutdownTimeout)
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
	for _, l := range in.lanes.all {
		sum.HeldForRoom += l.budget.waitedFor()
	}
	if drainDone != nil {
		if err := <-drainDone; err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// Ready reports whether the ingester can do its job: ClickHouse answers with the schema in
// place and Kafka answers.
func (in *Ingester) Ready(ctx context.Context) error {
	if err := in.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	pending, err := schema.Pending(ctx, schema.Native(in.conn), in.cfg.Writer.Database)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if len(pending) > 0 {
		return fmt.Errorf("schema: migrations %v not applied", pending)
	}
	now := time.Now()
	for _, l := range in.lanes.all {
		where := "clickhouse"
		if l.name != "" {
			where += " " + l.name
		}
		if err := l.sink.fatalError(); err != nil {
			return fmt.Errorf("%s refuses inserts until someone acts: %w", where, err)
		}
		if limit := in.cfg.Writer.Retry.UnreadyAfter; limit > 0 {
			if d, f := l.sink.failingFor(now); d >= limit {
				return fmt.Errorf("%s: inserts into %s have failed for %s with none succeeding (retry.unready_after %s); the latest: %w",
					where, f.table, d.Round(time.Second), limit, f.err)
			}
		}
	}
	if _, err := in.admin.client.Metadata(ctx, &kafka.MetadataRequest{Topics: in.cfg.Kafka.Topics}); err != nil {
		return fmt.Errorf("kafka at %v: %w", in.cfg.Kafka.Brokers, err)
	}
	return nil
}
