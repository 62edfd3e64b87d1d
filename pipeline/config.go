package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config is what the pipeline uses of faultline's configuration (cmd/ingest builds it from
// config.Config; the keys named are that file's). Every field must be set: the pipeline
// applies no defaults of its own.
type Config struct {
	Kafka  KafkaConfig
	Batch  BatchConfig
	Writer WriterConfig
	// ShutdownTimeout (ingest.shutdown_timeout) bounds flushing, committing and leaving the
	// group once Run's context ends.
	ShutdownTimeout time.Duration
	Metrics         MetricsConfig
	// Cluster is cluster mode (clickhouse.cluster*); nil for a single server.
	Cluster *ClusterConfig
}

// ClusterConfig is a ClickHouse cluster to write to: one lane per shard (see lane.go).
type ClusterConfig struct {
	Name string // remote_servers name (clickhouse.cluster)
	// ShardingKey is the Distributed tables' sharding expression (schema.Cluster's
	// ShardingExpr); it must use only kafka_topic and kafka_partition, so that a Kafka
	// partition's rows are all on one shard.
	ShardingKey string
	// LocalTable names the per-shard table of a logical table (schema.Cluster's LocalTable).
	LocalTable func(table string) string
	// ViaDistributed inserts through the Distributed tables, synchronously
	// (clickhouse.cluster_insert = distributed), rather than into the shard's local tables.
	ViaDistributed bool
	// Connect opens a connection to one shard's replicas (native host:port each, from
	// system.clusters), with the TLS, user and timeouts of the main connection.
	Connect func(ctx context.Context, addrs []string) (driver.Conn, error)
}

// KafkaConfig is the consumer group and its partition readers (kafka.*). Security (SASL,
// TLS) is not here: it comes with the kafkaconn.Connector every connection is made through.
type KafkaConfig struct {
	Brokers           []string
	Topics            []string
	Group             string
	StartOffset       string // "earliest" or "latest": where a group with no commits starts
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration // a revoked partition gets half of it to flush
	MinFetchBytes     int
	MaxFetchBytes     int
	MaxWait           time.Duration
}

// BatchConfig says when the batcher seals a batch, how many are stored at once and how many
// bytes may be held between fetch and insert (batch.*).
type BatchConfig struct {
	MaxRows          int
	MaxBytes         int
	MaxAge           time.Duration
	MaxInflightBytes int
	Inserts          int // batches being stored at once; offsets are still committed in order
}

// WriterConfig is the table writer's (Sink's): where it writes and how it retries.
type WriterConfig struct {
	Database string // clickhouse.database, with the schema applied
	// InsertTimeout (batch.insert_timeout) bounds one insert attempt and one read-back of it.
	InsertTimeout time.Duration
	Retry         RetryConfig
}

// RetryConfig is the backoff between insert attempts (retry.*).
type RetryConfig struct {
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	FatalBackoff   time.Duration // for fatal errors (missing table, permissions)
	// UnreadyAfter (retry.unready_after): Ready fails once a table's inserts have failed
	// this long with none succeeding; 0 turns that off.
	UnreadyAfter time.Duration
}

// check reports the first field that would make the pipeline misbehave (config.Load already
// refuses such values by key; this guards other callers, such as tests).
func (c Config) check() error {
	for _, f := range []struct {
		name string
		bad  bool
	}{
		{"Kafka.Brokers", len(c.Kafka.Brokers) == 0},
		{"Kafka.Topics", len(c.Kafka.Topics) == 0},
		{"Kafka.Group", c.Kafka.Group == ""},
		{"Kafka.RebalanceTimeout", c.Kafka.RebalanceTimeout <= 0},
		{"Batch.MaxRows", c.Batch.MaxRows <= 0},
		{"Batch.MaxBytes", c.Batch.MaxBytes <= 0},
		{"Batch.MaxAge", c.Batch.MaxAge <= 0},
		{"Batch.MaxInflightBytes", c.Batch.MaxInflightBytes <= 0},
		{"Batch.Inserts", c.Batch.Inserts <= 0},
		{"Writer.InsertTimeout", c.Writer.InsertTimeout <= 0},
		{"Writer.Retry.InitialBackoff", c.Writer.Retry.InitialBackoff <= 0},
		{"Writer.Retry.MaxBackoff", c.Writer.Retry.MaxBackoff < c.Writer.Retry.InitialBackoff},
		{"Writer.Retry.FatalBackoff", c.Writer.Retry.FatalBackoff <= 0},
		{"ShutdownTimeout", c.ShutdownTimeout <= 0},
	} {
		if f.bad {
			return fmt.Errorf("pipeline: config field %s is unset or out of range", f.name)
		}
	}
	return nil
}
