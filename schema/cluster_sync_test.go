package schema_test

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// clusterSync makes inserts into a Distributed table synchronous: written on the
// shards when the insert returns.
func clusterSync(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
}
