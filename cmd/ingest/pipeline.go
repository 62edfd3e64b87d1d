package main

import (
	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/metrics"
	"github.com/faultline/faultline/pipeline"
)

// pipelineConfig is what the pipeline takes of the configuration: the consumer group and its
// readers, batching, the table writer, the shutdown bound, and which error types its metrics
// export at zero (those of cat).
func pipelineConfig(cfg *config.Config, cat *catalog.Catalog) pipeline.Config {
	return pipeline.Config{
		Kafka: pipeline.KafkaConfig{
			Brokers:           cfg.Kafka.Brokers,
			Topics:            cfg.Kafka.Topics,
			Group:             cfg.Kafka.Group,
			StartOffset:       cfg.Kafka.StartOffset,
			SessionTimeout:    cfg.Kafka.SessionTimeout,
			HeartbeatInterval: cfg.Kafka.HeartbeatInterval,
			RebalanceTimeout:  cfg.Kafka.RebalanceTimeout,
			MinFetchBytes:     cfg.Kafka.MinFetchBytes,
			MaxFetchBytes:     cfg.Kafka.MaxFetchBytes,
			MaxWait:           cfg.Kafka.MaxWait,
		},
		Batch: pipeline.BatchConfig{
			MaxRows:          cfg.Batch.MaxRows,
			MaxBytes:         cfg.Batch.MaxBytes,
			MaxAge:           cfg.Batch.MaxAge,
			MaxInflightBytes: cfg.Batch.MaxInflightBytes,
			Inserts:          cfg.Batch.Inserts,
		},
		Writer:          writerConfig(cfg),
		ShutdownTimeout: cfg.Ingest.ShutdownTimeout,
		Metrics:         pipeline.MetricsConfig{CatalogTypes: metrics.CatalogTypes(cat), MaxUnknownErrorTypes: cfg.Metrics.MaxUnknownErrorTypes},
		Cluster:         clusterConfig(cfg),
	}
}

// writerConfig is the table writer's part, which `ingest requeue` uses alone.
func writerConfig(cfg *config.Config) pipeline.WriterConfig {
	return pipeline.WriterConfig{
		Database:      cfg.ClickHouse.Database,
		InsertTimeout: cfg.Batch.InsertTimeout,
		Retry: pipeline.RetryConfig{
			InitialBackoff: cfg.Retry.InitialBackoff,
			MaxBackoff:     cfg.Retry.MaxBackoff,
			FatalBackoff:   cfg.Retry.FatalBackoff,
			UnreadyAfter:   cfg.Retry.UnreadyAfter,
		},
	}
}
