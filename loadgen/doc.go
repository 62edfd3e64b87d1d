// Package loadgen produces realistic API error traffic for faultline: demos,
// alert tests, fault tests and benchmarks.
//
// A Generator is pure and deterministic: for one catalog, one Options (seed
// included) and one sequence of times passed to Next, it yields byte-identical
// messages. Each Message says what the ingester must make of it (accepted,
// flagged, unknown error type, or rejected with a reason), and Expected sums
// those intents into exact ground truth that ingester tests compare with what
// ClickHouse holds.
//
// Produce paces a Generator into a kafka-go Writer at a rate (token bucket,
// refilled on a ticker) and/or up to a count, and counts what was delivered.
// Options.DailyAmplitude gives the rate a daily shape (DailyShape). ProduceHistory
// writes back-dated traffic (Kafka time and envelope timestamps in the past) as
// fast as the broker takes it, so queries and dashboards have a baseline; give it
// a generator of the live seed with Options.Stream set, so the same types are hot
// but no request id repeats.
package loadgen
