package pipeline

import (
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
)

// Quarantine reasons the pipeline adds to the event checks' own.
const (
	// ReasonServerRejected: ClickHouse refused to store the event.
	ReasonServerRejected = "server_rejected"
	// ReasonClientRejected: clickhouse-go refused to encode the event (a value its column
	// cannot hold that the checks did not foresee); the library's message is the detail.
	ReasonClientRejected = "client_rejected"
)

// Reasons a message is read but not stored (faultline_messages_skipped_total{reason}, whose
// all exported at zero).
const (
	// skipAlreadyStored: an earlier owner stored it without committing its offset.
	skipAlreadyStored = "already_stored"
	// skipTransactionMarker: a transaction's commit or abort marker, which kafka-go v0.4.51
	// hands out as an ordinary record.
	skipTransactionMarker = "transaction_marker"
)

// isTransactionMarker reports whether a record is a Kafka control record marking the end of
// a transaction. kafka-go v0.4.51 does not read the control flag of record batches, so the
// record is recognised by its shape (Kafka's EndTransactionMarker): a 4-byte key of version 0
// and type 0 (abort) or 1 (commit), and a value of version 0 and a 4-byte coordinator epoch.
// A payload of those 6 bytes is never a JSON event, so nothing else can be mistaken for it.
func isTransactionMarker(key, value []byte) bool {
	return len(key) == 4 && key[0] == 0 && key[1] == 0 && key[2] == 0 && key[3] <= 1 &&
		len(value) == 6 && value[0] == 0 && value[1] == 0
}

// unknownKafkaTime is what kafka_time holds for a record whose own timestamp a DateTime
// column cannot hold (0, -1, microseconds): 1970-01-01, never a value clickhouse-go refuses.
var unknownKafkaTime = time.Unix(0, 0).UTC()

// newRow turns a fetched Kafka record into a row. A record time that a DateTime column
// cannot hold is replaced: the row keeps unknownKafkaTime, and checkTime is received (the
// time the event gets unless its envelope has a good one).
func newRow(topic string, p *partition, msg kafka.Message, received time.Time) (r *Row, checkTime time.Time) {
	r = &Row{}
	return r, r.fill(topic, p, msg, received)
}

// fill makes r the row of a fetched record, as newRow does, keeping r's event for the
// next check to reuse its memory (Check overwrites all of it). A zero received is now.
func (r *Row) fill(topic string, p *partition, msg kafka.Message, received time.Time) (checkTime time.Time) {
	// Field by field rather than *r = Row{...}: that copies the whole Event twice per message
	// (a few hundred bytes), which showed as 3% of a drain's CPU. TestFillSetsEveryField keeps
	// this list complete.
	r.Topic, r.Offset, r.KafkaTime, r.Key, r.Payload = topic, msg.Offset, msg.Time.UTC(), msg.Key, msg.Value
	r.Accepted, r.Reason, r.Detail = false, "", ""
	r.part, r.skipped, r.skipReason, r.badKafkaTime, r.charged = p, false, "", false, 0
	r.fingerprint = fingerprint(msg)
	if p != nil {
		r.Partition = p.id
	} else {
		r.Partition = int32(msg.Partition)
	}
	if event.Storable(msg.Time) {
		return r.KafkaTime
	}
	r.badKafkaTime = true
	r.KafkaTime = unknownKafkaTime
	if received.IsZero() {
		received = time.Now() // only asked of a record without a usable time
	}
	return received.UTC()
}

// rowPool keeps Rows between messages: a Row lives from its fetch to its Append into a
// batch, and its event (the attribute slice, the checker's index) is reused by the next
// message's check, so a steady stream allocates no Row per message.
type rowPool struct{ p sync.Pool }

func (rp *rowPool) get() *Row {
	if r, ok := rp.p.Get().(*Row); ok {
		return r
	}
	return &Row{}
}

// put keeps r for a later message. Nothing may use r afterwards.
func (rp *rowPool) put(r *Row) {
	if cap(r.Event.Attributes) > maxPooledAttributes {
		r.Event = event.Event{} // a hostile message's thousands of attributes are not kept
	}
	r.Event.Reset()
	// fill sets every other field; only what refers to a message or partition is dropped here.
	r.Key, r.Payload, r.part = nil, nil, nil
	rp.p.Put(r)
}

// maxPooledAttributes bounds the attribute slice a pooled Row keeps.
const maxPooledAttributes = 64

// checkRow runs the event checks on a row; kafkaTime is newRow's checkTime.
func checkRow(c *event.Checker, r *Row, kafkaTime time.Time, original time.Time) {
	rej, ok := c.Check(r.Payload, kafkaTime, &r.Event)
	r.Accepted = ok
	if !ok {
		r.Reason, r.Detail = string(rej.Reason), rej.Detail
		return
	}
	if r.badKafkaTime {
		// The record's own time is unusable; say so on the event and keep what it was.
		r.Event.Flags |= event.FlagBadTimestamp
		ms := "0" // kafka-go reports 0 and -1 both as no time
		if !original.IsZero() {
			ms = strconv.FormatInt(original.UnixMilli(), 10)
		}
		r.Event.Attributes = append(r.Event.Attributes, event.Attribute{Key: "kafka_timestamp", Value: ms})
	}
}

// Row is one Kafka message on its way to ClickHouse: an accepted event bound for events, or a
// rejected message bound for quarantine.
type Row struct {
	Topic     string
	Partition int32
	Offset    int64
	KafkaTime time.Time
	Key       []byte
	// Payload is the message value: stored whole in quarantine, and the memory behind the
	// Event's strings.
	Payload []byte

	Accepted bool
	Event    event.Event
	Reason   string // when rejected
	Detail   string

	part         *partition // the owning partition's state; nil in tests of the sink alone
	skipped      bool       // not stored: already stored by an earlier owner, or a marker
	skipReason   string     // why skipped: skipAlreadyStored or skipTransactionMarker
	badKafkaTime bool       // the record's timestamp cannot be stored; KafkaTime is 1970
	fingerprint  uint64     // of key, value and record time: see fingerprint
	charged      int        // bytes taken from the in-flight budget for this row
}

// SetFingerprint gives a row rebuilt from a stored one (a requeue from quarantine) the
// fingerprint its message was stored with, so that the skip read still recognises it.
func (r *Row) SetFingerprint(fp uint64) { r.fingerprint = fp }

// size is what the row holds in memory before it is decoded, for the in-flight budget.
func (r *Row) size() int { return len(r.Payload) + len(r.Key) + rowOverhead }

// rowOverhead approximates the Row struct and its slices beyond the payload.
const rowOverhead = 512

// heldBytes is about what a rejected row takes in a batch's quarantine buffers: its message
// whole, and a few hundred bytes of fixed-width values, keys and ends. (An accepted row's
// is measured as it is added: eventBuf.grew.)
func (r *Row) heldBytes() int {
	return len(r.Payload) + len(r.Key) + heldOverhead
}

const heldOverhead = 192

// attrCost is what one attribute of a decoded event holds beyond the payload bytes it
// aliases: its Attribute (two string headers), the index entry the checker keeps once an
// event has many, and the two string headers of the key and value column copies made at
// insert. Measured with the tiny-keys message of TestDecodedCostIsCharged.
const attrCost = 160

// decodedExtra is what the decoded event holds beyond size: the budget charges it once the
// message is checked, so that hostile shapes cannot hold more than the bound.
func (r *Row) decodedExtra() int {
	if !r.Accepted {
		return 0
	}
	return len(r.Event.Attributes) * attrCost
}

type rowKey struct {
	topic     string
	partition int32
	offset    int64
}

func (r *Row) key() rowKey { return rowKey{r.Topic, r.Partition, r.Offset} }
