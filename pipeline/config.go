package pipeline

import "time"

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
}
