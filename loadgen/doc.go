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
package loadgen
