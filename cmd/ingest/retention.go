package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/chconn"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/retention"
	"github.com/faultline/faultline/schema"
)

func policy(cfg *config.Config) retention.Policy {
	return retention.Policy{Events: cfg.Retention.Events, Quarantine: cfg.Retention.Quarantine, Rollup: cfg.Retention.Rollup}
}

// retentionCmd is `ingest retention`: one run, for cron or a Kubernetes CronJob when the
// ingesters do not run it themselves (retention.interval 0).
func retentionCmd(cfgPath *string) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "retention",
		Short: "Drop the partitions older than retention.* (and set TTL on ClickHouse 20+), then exit",
		Long: `retention drops whole partitions of events, quarantine and events_per_minute once every
row in them is older than retention.events / .quarantine / .rollup (0 keeps a table forever).
On servers with TTL (ClickHouse 20 and later) it also sets each table's TTL. Safe to run from
several places and on a schedule: a run finds nothing left to do the second time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := setup(*cfgPath)
			if err != nil {
				return err
			}
			conn, err := chconn.Open(cmd.Context(), cfg.ClickHouse, chconn.Options{MaxConns: 2})
			if err != nil {
				return err
			}
			defer conn.Close()
			ex := schema.Native(conn)
			p := policy(cfg)
			if !dryRun {
				ttl, err := retention.ApplyTTL(cmd.Context(), ex, cfg.ClickHouse.Database, cfg.ClickHouse.Cluster.Schema(), p)
				if err != nil {
					return err
				}
				log.Info("retention", "ttl_set", ttl, "events", p.Events, "quarantine", p.Quarantine, "rollup", p.Rollup)
			}
			drops, err := retention.Run(cmd.Context(), ex, cfg.ClickHouse.Database, cfg.ClickHouse.Cluster.Schema(), p, time.Now(), dryRun)
			verb := "dropped"
			if dryRun {
				verb = "would drop"
			}
			out := cmd.OutOrStdout()
			for _, d := range drops {
				fmt.Fprintf(out, "%s %s.%s partition %d (%d rows)\n", verb, cfg.ClickHouse.Database, d.Table, d.Partition, d.Rows)
			}
			if len(drops) == 0 && err == nil {
				fmt.Fprintln(out, "nothing past retention")
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only list the partitions that would be dropped")
	return cmd
}
