// Command ingest consumes API error events from Kafka, checks and enriches them against the
// error catalog, stores them in ClickHouse exactly once and exports Prometheus metrics.
//
//	ingest [run] [--drain]   consume (until SIGTERM/SIGINT, or with --drain until caught up)
//	ingest migrate           apply the ClickHouse schema and exit
//	ingest retention         drop partitions past retention.* (and set TTL where supported)
//	ingest requeue           quarantined messages through today's checks; accepted ones to events
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/faultline/faultline/chconn"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/internal/buildinfo"
	"github.com/faultline/faultline/kafkaconn"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/progress"
	"github.com/faultline/faultline/retention"
	"github.com/faultline/faultline/schema"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var (
		cfgPath    string
		drain      bool
		cpuProfile string
	)
	root := &cobra.Command{
		Use:           "ingest",
		Short:         "Kafka to ClickHouse ingester for API error events",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(cpuProfile, func() error {
				return run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), cfgPath, drain, nil)
			})
		},
	}
	root.PersistentFlags().StringVar(&cfgPath, "config", "", "config file (default: config.yaml if present)")
	root.PersistentFlags().StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the run to this file (go tool pprof reads it)")
	root.Flags().BoolVar(&drain, "drain", false, "exit 0 once every partition is caught up to the end offsets seen at start")

	runCmd := &cobra.Command{
		Use:   "run",
		Short: "Consume until SIGTERM/SIGINT (or, with --drain, until caught up)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCPUProfile(cpuProfile, func() error {
				return run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), cfgPath, drain, nil)
			})
		},
	}
	runCmd.Flags().BoolVar(&drain, "drain", false, "exit 0 once every partition is caught up to the end offsets seen at start")
	migrateCmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the ClickHouse schema migrations and exit",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := setup(cfgPath)
			if err != nil {
				return err
			}
			conn, err := chconn.Open(cmd.Context(), cfg.ClickHouse, chconn.Options{MaxConns: 2})
			if err != nil {
				return err
			}
			defer conn.Close()
			f, isFile := cmd.ErrOrStderr().(*os.File)
			// Every migration is a line of its own: a handful, each of them possibly slow.
			m := progress.New(cmd.ErrOrStderr(), "migrate", "migrations", progress.Options{Terminal: isFile && progress.IsTerminal(f), Every: time.Nanosecond})
			applied, err := schema.MigrateOn(cmd.Context(), schema.Native(conn), cfg.ClickHouse.Database, migrateOptions(cfg, func(done, total int, _ string) {
				m.Update(int64(done), int64(total))
			}))
			if len(applied) > 0 {
				m.Finish()
			}
			if err != nil {
				return err
			}
			log.Info("schema up to date", "database", cfg.ClickHouse.Database, "applied", applied)
			return nil
		},
	}
	root.AddCommand(runCmd, migrateCmd, retentionCmd(&cfgPath), requeueCmd(&cfgPath), replayCmd(&cfgPath, &cpuProfile))
	buildinfo.Cobra(root)
	return root
}

func setup(cfgPath string) (*config.Config, *slog.Logger, error) {
	if cfgPath == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			cfgPath = "config.yaml"
		}
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	return cfg, newLogger(cfg.Log), nil
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// run consumes; rp, when set, makes it a replay (ingest replay): a drain of the replay's range
// under its own group, into its database.
func run(ctx context.Context, out, errOut io.Writer, cfgPath string, drain bool, rp *replayRun) error {
	cfg, log, err := setup(cfgPath)
	if err != nil {
		return err
	}
	if rp != nil {
		drain = true
		rp.configure(cfg)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	setMemoryLimit(cfg.Ingest, log)

	cat, err := schema.LoadCatalog(cfg.Catalog.Path, cfg.Catalog.Overrides)
	if err != nil {
		return fmt.Errorf("catalog (keys catalog.path, catalog.overrides): %w", err)
	}
	// Kafka first: a wrong password or certificate is cheaper to learn before migrations, and
	// kafka-go itself would only report it as "unexpected EOF" or a group that never joins.
	kc, err := kafkaconn.New(cfg.Kafka)
	if err != nil {
		return err
	}
	if cfg.Kafka.SASL.Mechanism == config.SASLPlain && !cfg.Kafka.TLS.Enabled {
		log.Warn("kafka.sasl.mechanism PLAIN without kafka.tls.enabled sends the password in clear text")
	}
	if err := kc.Check(ctx); err != nil {
		if !kafkaconn.Unreachable(err) {
			return err
		}
		// A running ingester rides out a Kafka outage; one started during it does too.
		log.Warn("no kafka broker answers yet; the consumer group keeps trying", "error", err)
	} else {
		log.Info("kafka answers", "brokers", cfg.Kafka.Brokers, "security", kc.Security())
	}
	conn, err := chconn.Open(ctx, cfg.ClickHouse, chconn.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer conn.Close()
	if cfg.Ingest.MigrateOnStart || rp != nil {
		if _, err := schema.MigrateOn(ctx, schema.Native(conn), cfg.ClickHouse.Database, migrateOptions(cfg, nil)); err != nil {
			return err
		}
	}
	if err := schema.SyncCatalog(ctx, conn, cfg.ClickHouse.Database, cat); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.NewInfo(reg, cat.Version(), cat.Len())
	checker := event.NewChecker(cat, event.Options{MaxMessageBytes: cfg.Checks.MaxMessageBytes, MaxClockSkew: cfg.Checks.MaxClockSkew})
	in, err := pipeline.New(pipelineConfig(cfg, cat), checker, conn, kc, reg, log)
	if err != nil {
		return err
	}
	defer in.Close()
	if cfg.Metrics.Listen != "" {
		srv, err := serve(ctx, cfg.Metrics, reg, in, log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	bi := buildinfo.Get()
	log.Info("starting", "version", bi.Version, "revision", bi.Revision)
	log.Info("catalog loaded", "version", cat.Version(), "entries", cat.Len())
	rm := retention.NewMetrics(reg)
	// A long-running ingester keeps the tables to their retention; a --drain (a catch-up, a
	// benchmark) does not. The schedule stops before the connection closes.
	if cfg.Retention.Interval > 0 && !drain {
		rctx, stopRetention := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			retention.Schedule(rctx, schema.Native(conn), cfg.ClickHouse.Database, cfg.ClickHouse.Cluster.Schema(), policy(cfg), cfg.Retention.Interval, rm, log)
		}()
		defer func() { stopRetention(); <-done }()
	}

	opts := pipeline.RunOptions{Drain: drain}
	what, total := "drain", int64(0)
	if rp != nil {
		plan, err := rp.prepare(ctx, kc, cfg, log)
		if err != nil {
			return err
		}
		opts.StopAt, what, total = plan.To, "replay", plan.Messages()
	}
	stopProgress := func() {}
	if drain {
		sample := replaySample(reg, total)
		if rp == nil {
			g, err := newGroupDrain(ctx, kc.Client(10*time.Second), cfg.Kafka)
			if err != nil {
				return err
			}
			sample = g.sample
		}
		f, isFile := errOut.(*os.File)
		stopProgress = drainProgress(ctx, errOut, isFile && progress.IsTerminal(f), what, sample)
	}
	sum, err := in.Run(ctx, opts)
	stopProgress()
	if drain {
		fmt.Fprintf(out, "consumed %d  stored %d  quarantined %d (server rejected %d, client rejected %d)  flagged %d  skipped %d  transaction markers %d  elapsed %s  %.0f events/s  held for room %s\n",
			sum.Consumed, sum.Stored, sum.Quarantined, sum.ServerRejected, sum.ClientRejected, sum.Flagged, sum.Skipped, sum.Markers,
			sum.Elapsed.Round(time.Millisecond), sum.EventsPerSecond(), sum.HeldForRoom.Round(time.Millisecond))
	}
	if err != nil && !(errors.Is(err, context.Canceled) && !drain) {
		return err
	}
	log.Info("stopped", "consumed", sum.Consumed, "stored", sum.Stored, "quarantined", sum.Quarantined)
	return nil
}

// setMemoryLimit gives the Go runtime ingest.memory_limit as its soft limit: the in-flight
// bytes are the bulk of the heap, and without a limit the garbage collector lets the heap grow
// to twice what is live before it collects. GOMEMLIMIT, read by the runtime itself, wins.
func setMemoryLimit(c config.Ingest, log *slog.Logger) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory limit from GOMEMLIMIT; ingest.memory_limit not applied", "GOMEMLIMIT", v)
		return
	}
	if c.MemoryLimit > 0 {
		debug.SetMemoryLimit(c.MemoryLimit)
		log.Debug("memory limit", "bytes", c.MemoryLimit)
	}
}

// migrateOptions renders the schema for clickhouse.cluster when it names one.
func migrateOptions(cfg *config.Config, step func(done, total int, name string)) schema.Options {
	return schema.Options{Cluster: cfg.ClickHouse.Cluster.Schema(), DDLTimeout: cfg.ClickHouse.Cluster.DDLTimeout, Step: step}
}
