package main

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/chconn"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/pipeline"
)

// clusterConfig is cluster mode for the pipeline (clickhouse.cluster*), nil on a single
// server. Each shard's connection is made like the main one (TLS, user, timeouts), to the
// replicas system.clusters lists.
func clusterConfig(cfg *config.Config) *pipeline.ClusterConfig {
	c := cfg.ClickHouse.Cluster
	if !c.Enabled() {
		return nil
	}
	sc := c.Schema()
	return &pipeline.ClusterConfig{
		Name:           c.Name,
		ShardingKey:    sc.ShardingExpr(),
		LocalTable:     sc.LocalTable,
		ViaDistributed: c.Insert == "distributed",
		Connect: func(ctx context.Context, addrs []string) (driver.Conn, error) {
			ch := cfg.ClickHouse
			ch.Addr = addrs
			return chconn.Open(ctx, ch, chconn.Options{MaxConns: 4})
		},
	}
}
