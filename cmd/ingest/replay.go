package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kafkaconn"
	"github.com/faultline/faultline/replay"
)

// replayRun is what `ingest replay` changes in a drain: its group, database and range.
type replayRun struct {
	group, database string
	from, to        replay.Bound
	partitions      []int
}

func replayCmd(cfgPath, cpuProfile *string) *cobra.Command {
	var (
		rp       replayRun
		from, to string
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-read a topic range under a consumer group of its own, into the same tables or another database",
		Long: `replay re-reads kafka.topics from --from to --to (an offset, or an RFC 3339 record
time; default the start and the end of each partition), of every partition or those named
with --partition, under a group of its own (--group; default <kafka.group>-replay-<unix
time>), and stops at --to. Into the tables that already hold the range it stores nothing
twice (messages already stored are skipped and counted as already_stored); --database fills
another database, migrated first. Progress goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if rp.from, err = parseBound(from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if rp.to, err = parseBound(to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			return withCPUProfile(*cpuProfile, func() error {
				return run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), *cfgPath, true, &rp)
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first offset or RFC 3339 record time (default: each partition's start)")
	cmd.Flags().StringVar(&to, "to", "", "end offset (exclusive) or RFC 3339 record time (default: each partition's end)")
	cmd.Flags().IntSliceVar(&rp.partitions, "partition", nil, "only these partitions (repeatable; default all)")
	cmd.Flags().StringVar(&rp.group, "group", "", "consumer group of the replay (default <kafka.group>-replay-<unix time>); must be unused")
	cmd.Flags().StringVar(&rp.database, "database", "", "ClickHouse database to fill (default clickhouse.database); migrated first")
	return cmd
}

// parseBound reads an offset or an RFC 3339 time; "" is unset.
func parseBound(s string) (replay.Bound, error) {
	if s == "" {
		return replay.Bound{Offset: -1}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return replay.Bound{}, fmt.Errorf("offset %d is negative", n)
		}
		return replay.Bound{Offset: n}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return replay.Bound{}, fmt.Errorf("%q is neither an offset nor an RFC 3339 time", s)
	}
	return replay.Bound{Offset: -1, Time: t}, nil
}

// configure points cfg at the replay's group and database.
func (rp *replayRun) configure(cfg *config.Config) {
	if rp.group == "" {
		rp.group = cfg.Kafka.Group + "-replay-" + strconv.FormatInt(time.Now().Unix(), 10)
	}
	cfg.Kafka.Group = rp.group
	if rp.database != "" {
		cfg.ClickHouse.Database = rp.database
	}
}

// prepare resolves the range and commits its start for the replay's group.
func (rp *replayRun) prepare(ctx context.Context, kc *kafkaconn.Connector, cfg *config.Config, log *slog.Logger) (replay.Plan, error) {
	client := kc.Client(30 * time.Second)
	plan, err := replay.MakePlan(ctx, client, replay.Range{Topics: cfg.Kafka.Topics, Partitions: rp.partitions, From: rp.from, To: rp.to})
	if err != nil {
		return plan, err
	}
	if err := replay.Commit(ctx, client, rp.group, plan); err != nil {
		return plan, err
	}
	log.Info("replay", "group", rp.group, "database", cfg.ClickHouse.Database, "messages", plan.Messages(), "from", plan.From, "to", plan.To)
	return plan, nil
}
