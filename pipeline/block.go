package pipeline

import (
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/faultline/faultline/event"
)

// eventTypes and quarantineTypes are the ClickHouse types of every column the writer
// inserts, as the migrations in schema/ create them (TestColumnTypesMatchSchema checks them
// against a migrated server, and every insert checks them against the server's header). The
// block encoder writes these types itself, so a migration that changes a type changes them.
var eventTypes = map[string]string{
	"event_time": "DateTime", "event_time_ms": "UInt16", "status_code": "UInt16",
	"error_type": "LowCardinality(String)", "request_id": "String",
	"error_message": "LowCardinality(String)", "error_url": "LowCardinality(String)",
	"environment": "LowCardinality(String)", "category": "LowCardinality(String)",
	"actor": "LowCardinality(String)", "known": "UInt8", "flags": "Array(String)",
	"method": "LowCardinality(String)", "path": "String", "project_id": "String",
	"organization_id": "String", "member_id": "String", "client": "String",
	"region": "LowCardinality(String)", "latency_ms": "Nullable(Float64)",
	"attr_keys": "Array(String)", "attr_values": "Array(String)",
	"catalog_version": "LowCardinality(String)", "kafka_topic": "LowCardinality(String)",
	"kafka_partition": "UInt32", "kafka_offset": "UInt64", "kafka_time": "DateTime",
	"ingested_at": "DateTime", "insert_id": "UInt64", "fingerprint": "UInt64",
}

var quarantineTypes = map[string]string{
	"received_at": "DateTime", "reason": "LowCardinality(String)", "detail": "String",
	"payload": "String", "payload_bytes": "UInt32", "kafka_topic": "LowCardinality(String)",
	"kafka_partition": "UInt32", "kafka_offset": "UInt64", "kafka_time": "DateTime",
	"kafka_key": "String", "insert_id": "UInt64", "fingerprint": "UInt64",
}

type (
	u8Col  = fixedCol[uint8, chproto.ColUInt8]
	u16Col = fixedCol[uint16, chproto.ColUInt16]
	u32Col = fixedCol[uint32, chproto.ColUInt32]
	u64Col = fixedCol[uint64, chproto.ColUInt64]
)

// eventBuf holds accepted events as the columns of the events table, each field written
// once, plus each event's raw message (value and key) in the same compact encoding: should
// ClickHouse refuse a row, it goes to quarantine whole, as it came.
type eventBuf struct {
	eventTime, kafkaTime                                         u32Col
	eventTimeMs, status                                          u16Col
	known                                                        u8Col
	errorType, errorMessage, errorURL, environment, category     lowCardCol
	actor, method, region, catalogVersion, topic                 lowCardCol
	requestID, path, projectID, organizationID, memberID, client strCol
	flags, attrKeys, attrValues                                  strArrCol
	latency                                                      nullFloatCol
	partition                                                    u32Col
	offset, fingerprint                                          u64Col

	// The raw message, for quarantine should the server refuse the row: kept only for rows
	// not read from Kafka by the ingester (requeue, tests). An ingester's row keeps none; a
	// refused one is read back from Kafka by its offset (Sink.reread), which is not
	// committed before the row is stored.
	payload, key strCol

	// Per row, not sent: the owning partition (abandoned rows are dropped, commits advance
	// it) and the event's flags as bits (metrics count them).
	parts    []*partition
	flagBits []event.Flags

	flagNames []string // scratch for Flags.AppendNames

	held int // varBytes after the last add (see add)
}

// add appends an accepted row's event and its raw message; at stands in for an event time
// a DateTime cannot hold. It returns about what the row takes in the buffers (see held).
func (b *eventBuf) add(r *Row, at time.Time) (held int) {
	b.addEvent(r, at)
	if r.part == nil {
		b.payload.addBytes(r.Payload)
		b.key.addBytes(r.Key)
	} else {
		b.payload.addBytes(nil)
		b.key.addBytes(nil)
	}
	b.parts = append(b.parts, r.part)
	b.flagBits = append(b.flagBits, r.Event.Flags)
	return b.grew()
}

// addEvent appends an accepted row's event, without its raw message.
func (b *eventBuf) addEvent(r *Row, at time.Time) {
	e := &r.Event
	// The checks never give an event an unstorable time; this guards rows built elsewhere.
	b.eventTime.add(dateTime(storableOr(e.Time, at)))
	b.eventTimeMs.add(uint16(e.Time.Nanosecond() / int(time.Millisecond)))
	b.status.add(e.StatusCode)
	b.requestID.add(e.RequestID)
	if ent := e.Entry; ent != nil {
		// A known type's values are the entry's: encoded by its number. The checks gave a
		// matching message or URL the entry's string, so comparing reads no bytes.
		n := e.EntryNumber
		b.errorType.addNumbered(n, ent.ErrorType)
		b.category.addNumbered(n, ent.Category)
		b.actor.addNumbered(n, ent.Actor)
		if e.ErrorMessage == ent.ErrorMessage {
			b.errorMessage.addNumbered(n, ent.ErrorMessage)
		} else {
			b.errorMessage.add(e.ErrorMessage)
		}
		if e.ErrorURL == ent.ErrorURL {
			b.errorURL.addNumbered(n, ent.ErrorURL)
		} else {
			b.errorURL.add(e.ErrorURL)
		}
	} else {
		b.errorType.add(e.ErrorType)
		b.category.add(e.Category)
		b.actor.add(e.Actor)
		b.errorMessage.add(e.ErrorMessage)
		b.errorURL.add(e.ErrorURL)
	}
	b.environment.add(e.Environment)
	known := uint8(0)
	if e.Known {
		known = 1
	}
	b.known.add(known)
	b.flagNames = e.Flags.AppendNames(b.flagNames[:0])
	for _, f := range b.flagNames {
		b.flags.item(f)
	}
	b.flags.endRow()
	b.method.add(e.Method)
	b.path.add(e.Path)
	b.projectID.add(e.ProjectID)
	b.organizationID.add(e.OrganizationID)
	b.memberID.add(e.MemberID)
	b.client.add(e.Client)
	b.region.add(e.Region)
	b.latency.add(e.LatencyMs, e.HasLatency)
	for _, a := range e.Attributes {
		b.attrKeys.item(a.Key)
		b.attrValues.item(a.Value)
	}
	b.attrKeys.endRow()
	b.attrValues.endRow()
	b.catalogVersion.add(e.CatalogVersion)
	b.topic.add(r.Topic)
	b.partition.add(uint32(r.Partition))
	b.offset.add(uint64(r.Offset))
	b.kafkaTime.add(dateTime(storableOr(r.KafkaTime, unknownKafkaTime)))
	b.fingerprint.add(r.fingerprint)
}

func (b *eventBuf) rows() int { return len(b.offset.v) }

// grew is what the buffers took for the row just added: the fixed-width values, keys and
// ends of a row (heldOverhead) and the variable bytes it added (strings the batch had not
// seen before, a quarter on top for the slack of growing slices). A known type's catalog
// values are dictionary entries the batch holds once, so they cost a row nothing: charging
// the payload's length instead would let the in-flight budget hold a third fewer rows.
func (b *eventBuf) grew() int {
	now := b.varBytes()
	d := now - b.held
	b.held = now
	return heldOverhead + d + d/4
}

// varBytes is the length of the variable-width data in the buffers (not their capacity):
// string bytes, and per dictionary value its string and index entry.
func (b *eventBuf) varBytes() int {
	n := len(b.flags.items.data) + len(b.attrKeys.items.data) + len(b.attrValues.items.data)
	for _, c := range b.strs() {
		n += len(c.data)
	}
	for _, c := range b.lowCards() {
		n += len(c.dict.data) + lowCardValueCost*len(c.vals)
	}
	return n
}

// lowCardValueCost is what a dictionary value holds beyond its bytes: its end, its owned
// string header and its index entry (lowCardCol.bytes counts the same).
const lowCardValueCost = 8 + 16 + 64

// coordinates is row i's place in Kafka.
func (b *eventBuf) coordinates(i int) rowKey {
	return rowKey{b.topic.value(i), int32(b.partition.v[i]), int64(b.offset.v[i])}
}

func (b *eventBuf) fingerprintOf(i int) uint64   { return b.fingerprint.v[i] }
func (b *eventBuf) partitionOf(i int) *partition { return b.parts[i] }
func (b *eventBuf) payloadLen(i int) int         { return len(b.payload.value(i)) }

// lowCards and strs are arrays, not slices: grew calls them per row, and an array stays on
// the stack.
func (b *eventBuf) lowCards() [10]*lowCardCol {
	return [...]*lowCardCol{&b.errorType, &b.errorMessage, &b.errorURL, &b.environment, &b.category,
		&b.actor, &b.method, &b.region, &b.catalogVersion, &b.topic}
}

func (b *eventBuf) strs() [8]*strCol {
	return [...]*strCol{&b.requestID, &b.path, &b.projectID, &b.organizationID, &b.memberID, &b.client, &b.payload, &b.key}
}

func (b *eventBuf) reset() {
	b.eventTime.reset()
	b.kafkaTime.reset()
	b.eventTimeMs.reset()
	b.status.reset()
	b.known.reset()
	for _, c := range b.lowCards() {
		c.reset()
	}
	for _, c := range b.strs() {
		c.reset()
	}
	b.flags.reset()
	b.attrKeys.reset()
	b.attrValues.reset()
	b.latency.reset()
	b.partition.reset()
	b.offset.reset()
	b.fingerprint.reset()
	clear(b.parts) // let partitions of past assignments go
	b.parts = b.parts[:0]
	b.flagBits = b.flagBits[:0]
	b.held = 0
}

// bytes is the memory the buffers hold (their capacity).
func (b *eventBuf) bytes() int {
	n := b.eventTime.bytes() + b.kafkaTime.bytes() + b.eventTimeMs.bytes() + b.status.bytes() +
		b.known.bytes() + b.flags.bytes() + b.attrKeys.bytes() + b.attrValues.bytes() +
		b.latency.bytes() + b.partition.bytes() + b.offset.bytes() + b.fingerprint.bytes() +
		8*cap(b.parts) + 2*cap(b.flagBits)
	for _, c := range b.lowCards() {
		n += c.bytes()
	}
	for _, c := range b.strs() {
		n += c.bytes()
	}
	return n
}

// columns returns the rows of spans as the events block, in eventColumns order, for an
// insert with id at time at. The bytes depend on nothing else: the same rows, id and time
// always encode the same.
func (b *eventBuf) columns(spans []span, id uint64, at time.Time) []column.Interface {
	n := spansLen(spans)
	ts := dateTime(at)
	w := func(write func(*chproto.Buffer, []span)) func(*chproto.Buffer) {
		return func(buf *chproto.Buffer) { write(buf, spans) }
	}
	return newColumns(eventColumns, eventTypes, n, map[string]func(*chproto.Buffer){
		"event_time":      w(b.eventTime.write),
		"event_time_ms":   w(b.eventTimeMs.write),
		"status_code":     w(b.status.write),
		"error_type":      w(b.errorType.write),
		"request_id":      w(b.requestID.write),
		"error_message":   w(b.errorMessage.write),
		"error_url":       w(b.errorURL.write),
		"environment":     w(b.environment.write),
		"category":        w(b.category.write),
		"actor":           w(b.actor.write),
		"known":           w(b.known.write),
		"flags":           w(b.flags.write),
		"method":          w(b.method.write),
		"path":            w(b.path.write),
		"project_id":      w(b.projectID.write),
		"organization_id": w(b.organizationID.write),
		"member_id":       w(b.memberID.write),
		"client":          w(b.client.write),
		"region":          w(b.region.write),
		"latency_ms":      w(b.latency.write),
		"attr_keys":       w(b.attrKeys.write),
		"attr_values":     w(b.attrValues.write),
		"catalog_version": w(b.catalogVersion.write),
		"kafka_topic":     w(b.topic.write),
		"kafka_partition": w(b.partition.write),
		"kafka_offset":    w(b.offset.write),
		"kafka_time":      w(b.kafkaTime.write),
		"ingested_at":     func(buf *chproto.Buffer) { constUInt32(buf, ts, n) },
		"insert_id":       func(buf *chproto.Buffer) { constUInt64(buf, id, n) },
		"fingerprint":     w(b.fingerprint.write),
	})
}

// quarantineBuf holds rejected messages as the columns of the quarantine table.
type quarantineBuf struct {
	reason, topic              lowCardCol
	detail, payload, key       strCol
	size, partition, kafkaTime u32Col
	offset, fingerprint        u64Col
	parts                      []*partition // per row, not sent
}

// add appends a rejected row.
func (b *quarantineBuf) add(r *Row) {
	b.parts = append(b.parts, r.part)
	b.reason.add(r.Reason)
	b.detail.add(r.Detail)
	b.payload.addBytes(r.Payload)
	b.size.add(uint32(len(r.Payload)))
	b.key.addBytes(r.Key)
	b.addCoordinates(r.Topic, r.Partition, r.Offset, r.KafkaTime, r.fingerprint)
}

// addRefused appends event row i of ev, which ClickHouse or the encoder refused, with its
// raw message (value and key).
func (b *quarantineBuf) addRefused(ev *eventBuf, i int, reason, detail string, value, key []byte) {
	b.parts = append(b.parts, ev.parts[i])
	b.reason.add(reason)
	b.detail.add(detail)
	b.payload.addBytes(value)
	b.size.add(uint32(len(value)))
	b.key.addBytes(key)
	b.topic.add(ev.topic.value(i))
	b.partition.add(ev.partition.v[i])
	b.offset.add(ev.offset.v[i])
	b.kafkaTime.add(ev.kafkaTime.v[i])
	b.fingerprint.add(ev.fingerprint.v[i])
}

func (b *quarantineBuf) addCoordinates(topic string, partition int32, offset int64, kafkaTime time.Time, fp uint64) {
	b.topic.add(topic)
	b.partition.add(uint32(partition))
	b.offset.add(uint64(offset))
	b.kafkaTime.add(dateTime(storableOr(kafkaTime, unknownKafkaTime)))
	b.fingerprint.add(fp)
}

func (b *quarantineBuf) rows() int { return len(b.offset.v) }

// coordinates is row i's place in Kafka.
func (b *quarantineBuf) coordinates(i int) rowKey {
	return rowKey{b.topic.value(i), int32(b.partition.v[i]), int64(b.offset.v[i])}
}

func (b *quarantineBuf) fingerprintOf(i int) uint64   { return b.fingerprint.v[i] }
func (b *quarantineBuf) partitionOf(i int) *partition { return b.parts[i] }
func (b *quarantineBuf) payloadLen(i int) int         { return int(b.size.v[i]) }

func (b *quarantineBuf) reset() {
	b.reason.reset()
	b.topic.reset()
	b.detail.reset()
	b.payload.reset()
	b.key.reset()
	b.size.reset()
	b.partition.reset()
	b.kafkaTime.reset()
	b.offset.reset()
	b.fingerprint.reset()
	clear(b.parts)
	b.parts = b.parts[:0]
}

func (b *quarantineBuf) bytes() int {
	return b.reason.bytes() + b.topic.bytes() + b.detail.bytes() + b.payload.bytes() +
		b.key.bytes() + b.size.bytes() + b.partition.bytes() + b.kafkaTime.bytes() +
		b.offset.bytes() + b.fingerprint.bytes() + 8*cap(b.parts)
}

// columns returns the rows of spans as the quarantine block, in quarantineColumns order.
func (b *quarantineBuf) columns(spans []span, id uint64, at time.Time) []column.Interface {
	n := spansLen(spans)
	ts := dateTime(at)
	w := func(write func(*chproto.Buffer, []span)) func(*chproto.Buffer) {
		return func(buf *chproto.Buffer) { write(buf, spans) }
	}
	return newColumns(quarantineColumns, quarantineTypes, n, map[string]func(*chproto.Buffer){
		"received_at":     func(buf *chproto.Buffer) { constUInt32(buf, ts, n) },
		"reason":          w(b.reason.write),
		"detail":          w(b.detail.write),
		"payload":         w(b.payload.write),
		"payload_bytes":   w(b.size.write),
		"kafka_topic":     w(b.topic.write),
		"kafka_partition": w(b.partition.write),
		"kafka_offset":    w(b.offset.write),
		"kafka_time":      w(b.kafkaTime.write),
		"kafka_key":       w(b.key.write),
		"insert_id":       func(buf *chproto.Buffer) { constUInt64(buf, id, n) },
		"fingerprint":     w(b.fingerprint.write),
	})
}

func newColumns(names []string, types map[string]string, rows int, writers map[string]func(*chproto.Buffer)) []column.Interface {
	out := make([]column.Interface, len(names))
	for i, name := range names {
		c := encodedColumn{name: name, typ: column.Type(types[name]), rows: rows, write: writers[name]}
		if c.write == nil {
			panic("pipeline: no encoder for column " + name)
		}
		if isLowCard(types[name]) {
			out[i] = &lowCardColumn{c}
		} else {
			out[i] = &c
		}
	}
	return out
}

func isLowCard(t string) bool {
	const p = "LowCardinality("
	return len(t) > len(p) && t[:len(p)] == p
}

// dateTime is t as a DateTime value: seconds since the epoch.
func dateTime(t time.Time) uint32 { return uint32(t.Unix()) }
