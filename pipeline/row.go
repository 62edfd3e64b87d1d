package pipeline

import (
	"time"

	"github.com/faultline/faultline/event"
)

// ReasonServerRejected is the quarantine reason of an event ClickHouse refused to store.
const ReasonServerRejected = "server_rejected"

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

	part    *partition // the owning partition's state; nil in tests of the sink alone
	skipped bool       // already stored by an earlier owner: counted, not stored again
}

// size is what the row holds in memory, for the in-flight budget.
func (r *Row) size() int { return len(r.Payload) + len(r.Key) + rowOverhead }

// rowOverhead approximates the Row struct and its slices beyond the payload.
const rowOverhead = 512

type rowKey struct {
	topic     string
	partition int32
	offset    int64
}

func (r *Row) key() rowKey { return rowKey{r.Topic, r.Partition, r.Offset} }
