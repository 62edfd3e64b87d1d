package pipeline

import (
	"context"
	"time"

	"github.com/faultline/faultline/event"
)

// Batch is a set of rows that become visible in ClickHouse together: Append rows, then Commit
// (store every row exactly once) or Rollback (store nothing). A batch is unusable afterwards.
type Batch struct {
	sink  *Sink
	rows  []*Row
	bytes int
	done  bool
}

// Begin starts an empty batch.
func (s *Sink) Begin() *Batch { return &Batch{sink: s} }

// Append adds a row.
func (b *Batch) Append(r *Row) {
	if b.done {
		panic("pipeline: Append on a committed or rolled back batch")
	}
	b.rows = append(b.rows, r)
	b.bytes += r.size()
}

// Len is the number of rows appended.
func (b *Batch) Len() int { return len(b.rows) }

// Bytes is the memory the rows hold.
func (b *Batch) Bytes() int { return b.bytes }

// Rollback discards the batch without storing anything.
func (b *Batch) Rollback() { b.done = true; b.rows = nil }

// Result counts what a Commit stored.
type Result struct {
	Events     []*Row // stored in events
	Quarantine []*Row // stored in quarantine: rejected by the checks or refused by ClickHouse
	Abandoned  int    // rows of partitions given up during the commit, left for their next owner
}

// Commit stores every row in events or quarantine and returns once all are stored. It
// retries by error class until ctx ends; an error means ctx ended first, and then rows may be
// partly stored: the Kafka offsets must not be committed, and the rows' next reader skips
// what is stored (see Ingester). Events go first so that rows ClickHouse refuses join the
// quarantine insert of the same commit.
func (b *Batch) Commit(ctx context.Context) (Result, error) {
	if b.done {
		panic("pipeline: Commit on a committed or rolled back batch")
	}
	b.done = true
	s := b.sink
	var (
		events, quarantine []*Row
		res                Result
	)
	for _, r := range b.rows {
		if r.Accepted {
			events = append(events, r)
		} else {
			quarantine = append(quarantine, r)
		}
	}
	at := time.Now().UTC().Truncate(time.Second)
	w := &tableWrite{sink: s, at: at, res: &res}
	if err := w.store(ctx, tableEvents, events); err != nil {
		return res, err
	}
	quarantine = append(quarantine, w.refused...)
	if err := w.store(ctx, tableQuarantine, quarantine); err != nil {
		return res, err
	}
	return res, nil
}

var eventColumns = []string{
	"event_time", "event_time_ms", "status_code", "error_type", "request_id", "error_message",
	"error_url", "environment", "category", "actor", "known", "flags", "method", "path",
	"project_id", "organization_id", "member_id", "client", "region", "latency_ms",
	"attr_keys", "attr_values", "catalog_version", "kafka_topic", "kafka_partition",
	"kafka_offset", "kafka_time", "ingested_at", "insert_id", "fingerprint",
}

var quarantineColumns = []string{
	"received_at", "reason", "detail", "payload", "payload_bytes", "kafka_topic",
	"kafka_partition", "kafka_offset", "kafka_time", "kafka_key", "insert_id", "fingerprint",
}

func eventColumnsOf(rows []*Row, id uint64, at time.Time) []any {
	n := len(rows)
	var (
		eventTime      = make([]time.Time, n)
		eventTimeMs    = make([]uint16, n)
		status         = make([]uint16, n)
		errorType      = make([]string, n)
		requestID      = make([]string, n)
		errorMessage   = make([]string, n)
		errorURL       = make([]string, n)
		environment    = make([]string, n)
		category       = make([]string, n)
		actor          = make([]string, n)
		known          = make([]uint8, n)
		flags          = make([][]string, n)
		method         = make([]string, n)
		path           = make([]string, n)
		projectID      = make([]string, n)
		organizationID = make([]string, n)
		memberID       = make([]string, n)
		client         = make([]string, n)
		region         = make([]string, n)
		latency        = make([]*float64, n)
		attrKeys       = make([][]string, n)
		attrValues     = make([][]string, n)
		catalogVersion = make([]string, n)
		topic          = make([]string, n)
		partition      = make([]uint32, n)
		offset         = make([]uint64, n)
		kafkaTime      = make([]time.Time, n)
		ingestedAt     = make([]time.Time, n)
		insertID       = make([]uint64, n)
		fps            = make([]uint64, n)
	)
	for i, r := range rows {
		e := &r.Event
		fps[i] = r.fingerprint
		// The checks never give an event an unstorable time; this guards rows built elsewhere.
		eventTime[i] = storableOr(e.Time, at)
		eventTimeMs[i] = uint16(e.Time.Nanosecond() / int(time.Millisecond))
		status[i] = e.StatusCode
		errorType[i] = e.ErrorType
		requestID[i] = e.RequestID
		errorMessage[i] = e.ErrorMessage
		errorURL[i] = e.ErrorURL
		environment[i] = e.Environment
		category[i] = e.Category
		actor[i] = e.Actor
		if e.Known {
			known[i] = 1
		}
		if e.Flags != 0 {
			flags[i] = e.Flags.Names()
		} else {
			flags[i] = []string{}
		}
		method[i] = e.Method
		path[i] = e.Path
		projectID[i] = e.ProjectID
		organizationID[i] = e.OrganizationID
		memberID[i] = e.MemberID
		client[i] = e.Client
		region[i] = e.Region
		if e.HasLatency {
			latency[i] = &e.LatencyMs
		}
		keys := make([]string, len(e.Attributes))
		vals := make([]string, len(e.Attributes))
		for j, a := range e.Attributes {
			keys[j], vals[j] = a.Key, a.Value
		}
		attrKeys[i], attrValues[i] = keys, vals
		catalogVersion[i] = e.CatalogVersion
		topic[i] = r.Topic
		partition[i] = uint32(r.Partition)
		offset[i] = uint64(r.Offset)
		kafkaTime[i] = storableOr(r.KafkaTime, unknownKafkaTime)
		ingestedAt[i] = at
		insertID[i] = id
	}
	return []any{eventTime, eventTimeMs, status, errorType, requestID, errorMessage, errorURL,
		environment, category, actor, known, flags, method, path, projectID, organizationID,
		memberID, client, region, latency, attrKeys, attrValues, catalogVersion, topic,
		partition, offset, kafkaTime, ingestedAt, insertID, fps}
}

// storableOr returns t if a DateTime column holds it, else fallback.
func storableOr(t, fallback time.Time) time.Time {
	if event.Storable(t) {
		return t
	}
	return fallback
}

func quarantineColumnsOf(rows []*Row, id uint64, at time.Time) []any {
	n := len(rows)
	var (
		receivedAt = make([]time.Time, n)
		reason     = make([]string, n)
		detail     = make([]string, n)
		payload    = make([]string, n)
		size       = make([]uint32, n)
		topic      = make([]string, n)
		partition  = make([]uint32, n)
		offset     = make([]uint64, n)
		kafkaTime  = make([]time.Time, n)
		key        = make([]string, n)
		insertID   = make([]uint64, n)
		fps        = make([]uint64, n)
	)
	for i, r := range rows {
		fps[i] = r.fingerprint
		receivedAt[i] = at
		reason[i] = r.Reason
		detail[i] = r.Detail
		payload[i] = string(r.Payload)
		size[i] = uint32(len(r.Payload))
		topic[i] = r.Topic
		partition[i] = uint32(r.Partition)
		offset[i] = uint64(r.Offset)
		kafkaTime[i] = storableOr(r.KafkaTime, unknownKafkaTime)
		key[i] = string(r.Key)
		insertID[i] = id
	}
	return []any{receivedAt, reason, detail, payload, size, topic, partition, offset, kafkaTime, key, insertID, fps}
}
