// Package faults is faultline's fault-injection suite: it runs the real ingester binary
// (cmd/ingest) as a subprocess against a real Kafka-protocol broker (kfake) and a real
// clickhouse-server 18.16, injects the faults of issue 4 while traffic flows, and then checks
// the promise against the load generator's ground truth: every message in the topic is
// exactly one row in events or quarantine, none missing, none twice, counts per error_type
// and reason exact, and the per-minute rollups agree with events.
//
// The package has tests only. `go test ./faults` runs one CI-sized test per fault:
//
//	TestIngesterSIGKILLedRepeatedly      SIGKILL of the ingester at random moments, restarted
//	TestClickHouseOutage                 clickhouse-server stopped for 30+ s mid-stream
//	TestBrokerRestarts                   the dev broker stopped / killed and restarted on its data
//	TestSecondIngesterJoinsAndLeaves     rebalances both ways: join, graceful leave, crash leave
//	TestServerRejectedRowsAtScale        rows the server refuses, mixed into normal traffic
//	TestClickHouseHangsWhileAMemberTakesOver  clickhouse-server SIGSTOPped past the rebalance
//	                                     timeout while one member dies and the other takes over
//	TestHostileBacklogStaysUnderTheMemoryBound  64 KiB messages of 8,000 tiny keys: RSS bound
//	TestClusterFaults                    cluster mode on ZooKeeper + 2x2 ClickHouse, two members:
//	                                     a replica SIGKILLed, a whole shard down, ZooKeeper
//	                                     SIGSTOPped past its session timeout
//
// `make soak` (build tag soak) combines the same faults at random for SOAK_DURATION; half of
// its ClickHouse outages are hangs (SIGSTOP / SIGCONT).
package faults
