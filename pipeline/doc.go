// Package pipeline is faultline's ingester: a chain of small steps from Kafka to ClickHouse.
// Each file is one step of the data path, in the order a message meets them:
//
//	source.go    one goroutine per owned partition fences inserts begun before its assignment,
//	             reads messages, skips transaction markers and what is already stored with
//	             the same fingerprint (stored.go), checks and enriches each one (package
//	             event; row.go fills a pooled Row and keeps times a DateTime column cannot
//	             hold out of the blocks), and takes its bytes and decoded cost from the
//	             in-flight budget (budget.go)
//	fetch.go     the partition's reader: fetches from its leader on kafka-go's Conn and Batch
//	             in the source's goroutine (no Reader goroutine, channel or per-message
//	             deadline), reconnecting after errors and skipping what retention removed
//	stored.go    what a previous owner stored past the committed offset: the skip read from
//	             stored_offsets, window by window, kept as runs of offsets with fingerprints
//	batcher.go   one goroutine appends rows to a Batch until rows, bytes or age say flush,
//	             or a partition revoke or shutdown asks for it, and hands each Row back
//	batch.go     the Batch (Append, then Commit or Rollback): each row's fields written once
//	             into typed column buffers (block.go, columns.go) kept in ClickHouse's Native
//	             encoding; blockinsert.go hands them to clickhouse-go's insert as its block
//	writer.go    the table writer (Sink): events, then quarantine, as spans of the batch's
//	             rows (what landed, abandoned or split off leaves a span), each attempt under
//	             batch.insert_timeout, isolating rows the server or the client library refuses
//	landed.go    what an attempt stored, read back once the server is done with it before any
//	             retry; and the fence a new owner of a partition waits on (inserts begun
//	             before it are over)
//	retry.go     the error classes (retryable, data, fatal), the backoff between attempts,
//	             the insert id a repeat keeps, and what the failures tell Ready
//	commit.go    up to batch.inserts batches stored at once; in seal order, each stored
//	             batch's Kafka offsets are committed, the offset ledger advanced (ledger.go)
//	             and its bytes returned to the budget
//	lag.go       the lag watcher (lagWatcher): lag gauges, and the ledger checked against
//	             Kafka's commits
//	offsets.go   Kafka admin calls (admin): end and start offsets, the group's committed
//	             offsets, and the drain's wait for them
//	ingester.go  New, Run (the consumer group and the stages' goroutines), Ready, Summary
//	lane.go      batcher, writer, commit order and budget share make one lane; a single
//	             server has one, a ClickHouse cluster one per shard, so a shard that is down
//	             holds back only its own partitions
//	shards.go    a cluster's shards (system.clusters), the shard of a partition (the
//	             server evaluates the sharding key), each shard's Sink on its local tables
//	views.go     a block that landed on a Replicated table while its insert failed: write
//	             what its views (stored_offsets, the rollup) would have
//	config.go    the pipeline's own Config (cmd/ingest builds it from config.Config)
//	metrics.go   what the stages' metrics share: MetricsConfig, the label values exported
//	             at zero, constructors in the faultline_ namespace. Each stage defines the
//	             metrics it writes in its own file (sourceMetrics, batcherMetrics,
//	             commitMetrics, ledgerMetrics, lagMetrics, budgetMetrics, writerMetrics);
//	             New creates them all on the registry it is given
//
// Acknowledgements flow backwards: a Kafka offset is committed only after every message at
// or below it is stored in events or quarantine. See README.md "Exactly once" for why a
// crash, outage or rebalance neither loses nor doubles a row.
package pipeline
