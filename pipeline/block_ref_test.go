package pipeline

import "time"

// eventColumnsOf and quarantineColumnsOf are the rows path the column buffers replaced: one
// slice per column, for clickhouse-go's own column Append. Tests encode with them to check
// the column buffers' bytes against clickhouse-go's, and the hot-path benchmark measures them.

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

// resultOf is the Result of a commit that stored every one of rows.
func resultOf(rows []*Row) Result {
	bufs := &batchBufs{}
	at := time.Now().UTC().Truncate(time.Second)
	for _, r := range rows {
		if r.Accepted {
			bufs.ev.add(r, at)
		} else {
			bufs.q.add(r)
		}
	}
	return Result{Events: bufs.ev.rows(), Quarantine: bufs.q.rows(), bufs: bufs,
		events: allRows(bufs.ev.rows()), quarantine: allRows(bufs.q.rows())}
}
