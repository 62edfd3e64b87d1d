// Package pipeline is faultline's ingester: a chain of small steps from Kafka to ClickHouse.
//
//	source (ingester.go)  one goroutine per owned partition fences inserts begun before its
//	                      assignment, reads messages, takes their bytes (and, once decoded,
//	                      their decoded cost) from the in-flight budget (budget.go), skips
//	                      transaction markers and what is already stored with the same
//	                      fingerprint (skip.go, read window by window from stored_offsets),
//	                      and checks and enriches each one (package event; row.go keeps
//	                      times a DateTime column cannot hold away from clickhouse-go)
//	batcher (ingester.go) one goroutine gathers rows into a Batch until rows, bytes or age say
//	                      flush, or a partition revoke or shutdown asks for it
//	sink (sink.go)        one goroutine commits each Batch to ClickHouse: events, then
//	                      quarantine, each attempt under batch.insert_timeout, read back
//	                      once the server is done with it before any retry, retrying by
//	                      error class (classify.go) and isolating rows the server or the
//	                      client library refuses
//	commit (ingester.go)  only then are the batch's Kafka offsets committed, the offset ledger
//	                      advanced (ledger.go) and the bytes returned to the budget
//
// Acknowledgements flow backwards: a Kafka offset is committed only after every message at
// or below it is stored in events or quarantine. See README.md "Exactly once" for why a
// crash, outage or rebalance neither loses nor doubles a row.
package pipeline
