// Package event is faultline's event contract: it decodes one Kafka message,
// checks it against the error catalog and enriches it, without any I/O.
//
// Every message gets exactly one outcome from [Checker.Check]: accepted (an
// [Event], possibly carrying [Flags]) or rejected (a [Rejection] with one of the
// [Reason] constants). The contract itself is documented in
// docs/event-contract.md and schema/event.schema.json.
//
// The decoder is a hand-rolled single-pass JSON scanner that validates UTF-8
// as it goes and allocates nothing per event unless a string has escapes:
// encoding/json allocates per field and is several times slower while doing
// less (compare BenchmarkCheckBareBody with BenchmarkBaselineEncodingJSON). Strings in an accepted Event alias the payload bytes
// (unescaped strings are the exception: they are freshly allocated), so the
// payload must not be modified after Check while the Event or any of its
// strings is in use. kafka-go allocates a fresh value slice per message, which
// satisfies this.
package event
