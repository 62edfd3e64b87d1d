// Package pipeline is faultline's ingester: a chain of small steps from Kafka to ClickHouse.
//
//	source (source.go)    one goroutine per owned partition reads messages, takes their bytes
//	                      from the in-flight budget, skips what is already stored, and checks
//	                      and enriches each one (package event)
//	batcher (ingester.go) one goroutine gathers rows into a Batch until rows, bytes or age say
//	                      flush, or a partition revoke or shutdown asks for it
//	sink (sink.go)        one goroutine commits each Batch to ClickHouse: events, then
//	                      quarantine, retrying by error class and isolating rows the server
//	                      rejects
//	commit (ingester.go)  only then are the batch's Kafka offsets committed, the offset ledger
//	                      advanced (ledger.go) and the bytes returned to the budget
//
// Acknowledgements flow backwards: a Kafka offset is committed only after every message at
// or below it is stored in events or quarantine. See README.md "Exactly once" for why a
// crash, outage or rebalance neither loses nor doubles a row.
package pipeline
