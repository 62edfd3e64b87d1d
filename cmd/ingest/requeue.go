package main

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/chconn"
	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/progress"
	"github.com/faultline/faultline/requeue"
)

// requeueCmd is `ingest requeue`: quarantined messages through today's checks and catalog.
func requeueCmd(cfgPath *string) *cobra.Command {
	var (
		only   []string
		since  time.Duration
		limit  int
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "requeue",
		Short: "Run quarantined messages through today's checks and catalog; move the accepted ones to events",
		Long: `requeue reads quarantined messages (by --reason, received in the last --since), checks
them with today's checks and catalog (config checks.*, catalog.*), and moves those now
accepted into events, each exactly once, deleting their quarantine rows. --dry-run only
counts. Rows ClickHouse itself refused (server_rejected) are left alone unless named with
--reason. Safe to run again after any failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := setup(*cfgPath)
			if err != nil {
				return err
			}
			cat, err := catalog.Load(cfg.Catalog.Path, cfg.Catalog.Overrides)
			if err != nil {
				return fmt.Errorf("catalog (keys catalog.path, catalog.overrides): %w", err)
			}
			conn, err := chconn.Open(cmd.Context(), cfg.ClickHouse, chconn.Options{MaxConns: 2})
			if err != nil {
				return err
			}
			defer conn.Close()
			checker := event.NewChecker(cat, event.Options{MaxMessageBytes: cfg.Checks.MaxMessageBytes, MaxClockSkew: cfg.Checks.MaxClockSkew})
			// The sink counts into metrics nobody scrapes here: a one-off command.
			newSink := pipeline.NewSink
			if cfg.ClickHouse.Cluster.Enabled() {
				newSink = pipeline.NewDistributedSink
			}
			sink, err := newSink(cmd.Context(), conn, writerConfig(cfg), prometheus.NewRegistry(), log)
			if err != nil {
				return err
			}
			f, isFile := cmd.ErrOrStderr().(*os.File)
			pm := progress.New(cmd.ErrOrStderr(), "requeue", "messages", progress.Options{Terminal: isFile && progress.IsTerminal(f)})
			res, err := requeue.Run(cmd.Context(), conn, cfg.ClickHouse.Database, checker, sink,
				requeue.Options{Reasons: only, Since: time.Now().Add(-since), Limit: limit, DryRun: dryRun, Progress: pm.Update,
					Cluster: cfg.ClickHouse.Cluster.Schema()})
			pm.Finish()
			printRequeue(cmd, res, dryRun, log)
			return err
		},
	}
	cmd.Flags().StringArrayVar(&only, "reason", nil, "only this rejection reason (repeatable; default every reason but server_rejected)")
	cmd.Flags().DurationVar(&since, "since", 24*time.Hour, "messages quarantined within this long before now")
	cmd.Flags().IntVar(&limit, "limit", 10000, "at most this many messages per run")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would move, change nothing")
	return cmd
}

func printRequeue(cmd *cobra.Command, res requeue.Result, dryRun bool, log *slog.Logger) {
	out := cmd.OutOrStdout()
	verb := "moved to events"
	moved := res.Moved
	if dryRun {
		verb = "would move to events"
		for _, n := range res.Accepted {
			moved += n
		}
		moved -= res.AlreadyStored
	}
	fmt.Fprintf(out, "examined %d quarantined messages: %s %d, already in events %d, still rejected %d\n",
		res.Examined, verb, moved, res.AlreadyStored, sum(res.StillRejected))
	for _, k := range sortedKeys(res.Accepted) {
		fmt.Fprintf(out, "  accepted now   %-24s %d\n", k, res.Accepted[k])
	}
	for _, k := range sortedKeys(res.StillRejected) {
		fmt.Fprintf(out, "  still rejected %-24s %d\n", k, res.StillRejected[k])
	}
	if res.Refused > 0 {
		log.Warn("ClickHouse refused some requeued rows: quarantined again as server_rejected", "rows", res.Refused)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
