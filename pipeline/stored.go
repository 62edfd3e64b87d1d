package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/cespare/xxhash/v2"
	"github.com/segmentio/kafka-go"
)

// fingerprint identifies a message beyond its offset: xxhash64 of its key, value and record
// timestamp (milliseconds as the record carries them, 0 when kafka-go reports none). Offsets
// are not identities: a recreated topic starts again at 0. Never 0, which marks rows stored
// before fingerprints existed.
func fingerprint(msg kafka.Message) uint64 {
	var d xxhash.Digest
	d.Reset()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(msg.Key)))
	_, _ = d.Write(n[:])
	_, _ = d.Write(msg.Key)
	_, _ = d.Write(msg.Value)
	var ms int64
	if !msg.Time.IsZero() {
		ms = msg.Time.UnixMilli()
	}
	binary.LittleEndian.PutUint64(n[:], uint64(ms))
	_, _ = d.Write(n[:])
	if h := d.Sum64(); h != 0 {
		return h
	}
	return 1
}

// fold keeps 32 bits of a fingerprint in memory (the skip set holds one per stored offset);
// 0 stays 0 (a row from before fingerprints: matches any message).
func fold(fp uint64) uint32 {
	if fp == 0 {
		return 0
	}
	if x := uint32(fp ^ fp>>32); x != 0 {
		return x
	}
	return 1
}

// offsetSet is what of one partition is already stored in ClickHouse at or past the
// committed offset, read back when the partition is assigned: runs of offsets, and for each
// offset the folded fingerprint of the row stored there. A message is skipped only when a
// row at its offset has its fingerprint. It covers one window of offsets (see skipWindow):
// 4 bytes per stored offset in it.
type offsetSet struct {
	ranges [][2]int64         // sorted, disjoint, inclusive
	fps    [][]uint32         // fps[i][o-ranges[i][0]]: fingerprint of the first row at o
	extra  map[int64][]uint32 // fingerprints of further rows at an offset (several incarnations)
	cursor int                // offsets are asked in increasing order
	until  int64              // the set covers offsets below until (0: no bound)
	more   bool               // rows are stored at or past until: read the next window there
}

// add records a stored row; offsets must come in non-decreasing order.
func (s *offsetSet) add(o int64, fp uint64) {
	f := fold(fp)
	if n := len(s.ranges); n > 0 {
		last := &s.ranges[n-1]
		switch {
		case o == last[1]:
			if s.extra == nil {
				s.extra = map[int64][]uint32{}
			}
			s.extra[o] = append(s.extra[o], f)
			return
		case o == last[1]+1:
			last[1] = o
			s.fps[n-1] = append(s.fps[n-1], f)
			return
		}
	}
	s.ranges = append(s.ranges, [2]int64{o, o})
	s.fps = append(s.fps, []uint32{f})
}

// match reports whether a row with fingerprint fp is stored at o (stored), or rows are
// stored at o but none of them is this message (reused: the offset belonged to another
// message, of an earlier incarnation of the topic). Calls must come with non-decreasing o.
func (s *offsetSet) match(o int64, fp uint64) (stored, reused bool) {
	for s.cursor < len(s.ranges) && s.ranges[s.cursor][1] < o {
		s.cursor++
	}
	if s.cursor >= len(s.ranges) || s.ranges[s.cursor][0] > o {
		return false, false
	}
	f := fold(fp)
	if g := s.fps[s.cursor][o-s.ranges[s.cursor][0]]; g == 0 || g == f {
		return true, false
	}
	for _, g := range s.extra[o] {
		if g == 0 || g == f {
			return true, false
		}
	}
	return false, true
}

// exhausted reports whether no offset at or after the last one asked is stored.
func (s *offsetSet) exhausted() bool { return s.cursor >= len(s.ranges) }

func (s *offsetSet) len() int {
	n := 0
	for _, r := range s.ranges {
		n += int(r[1]-r[0]) + 1
	}
	return n
}

// skipWindow is how many offsets one skip read covers; the set holds 4 bytes per stored
// offset in it, so at most 1 MiB per partition, however much is stored past the commit.
const skipWindow = 1 << 18

// storedOffsets returns what of topic/partition in [from, from+skipWindow) is already stored
// (what a previous owner stored but did not commit), with each row's fingerprint, and
// whether anything is stored past that window. It reads stored_offsets, sorted by the Kafka
// coordinates, so the read is a primary-key range, not a scan of events and quarantine.
//
// On a cluster it reads one replica of the shard once that replica has fetched every part
// its peers were given (SYSTEM SYNC REPLICA, on the same server): the previous owner's last
// inserts may have gone to the other replica, and a replica that has not fetched them yet
// would answer "not stored" for rows that are. A replica that cannot sync in time (its peer
// holding parts is down) is passed over; if none can, the partition waits.
func (s *Sink) storedOffsets(ctx context.Context, topic string, partition int32, from int64) (*offsetSet, error) {
	if len(s.replicas) == 0 {
		return s.storedOffsetsOn(ctx, s.conn, topic, partition, from)
	}
	var errs []error
	for _, conn := range s.replicas {
		err := s.syncOn(ctx, conn, s.readTable[tableStoredOffsets])
		if err == nil {
			var set *offsetSet
			if set, err = s.storedOffsetsOn(ctx, conn, topic, partition, from); err == nil {
				return set, nil
			}
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no replica of %s can say what of %s/%d is stored: %w", s.shard, topic, partition, errors.Join(errs...))
}

// syncOn waits, within the insert timeout, until the replica conn reaches has fetched every
// part of db.table its peers have.
func (s *Sink) syncOn(ctx context.Context, conn driver.Conn, table string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// The server waits no longer than the client either (18.16 bounds SYNC REPLICA by
	// receive_timeout, 300 s by default), so an abandoned wait does not linger there.
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"receive_timeout": int(s.timeout.Seconds()) + 1}))
	// The table name comes from the schema's renderer, never from input.
	if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA `"+s.db+"`."+table); err != nil {
		return fmt.Errorf("sync replica %s.%s: %w", s.db, table, err)
	}
	return nil
}

func (s *Sink) storedOffsetsOn(ctx context.Context, conn driver.Conn, topic string, partition int32, from int64) (*offsetSet, error) {
	from = max(from, 0)
	until := from + s.window
	where := " FROM `" + s.db + "`." + s.readTable[tableStoredOffsets] + " WHERE kafka_topic = ? AND kafka_partition = ? AND kafka_offset >= ?"
	rows, err := conn.Query(ctx, "SELECT kafka_offset, fingerprint"+where+" AND kafka_offset < ? ORDER BY kafka_offset",
		topic, uint32(partition), uint64(from), uint64(until))
	if err != nil {
		return nil, fmt.Errorf("read stored offsets of %s/%d from %s: %w", topic, partition, s.db, err)
	}
	defer rows.Close()
	set := &offsetSet{until: until}
	for rows.Next() {
		var o, fp uint64
		if err := rows.Scan(&o, &fp); err != nil {
			return nil, err
		}
		set.add(int64(o), fp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored offsets of %s/%d from %s: %w", topic, partition, s.db, err)
	}
	var beyond []uint64
	rest, err := conn.Query(ctx, "SELECT kafka_offset"+where+" LIMIT 1", topic, uint32(partition), uint64(until))
	if err != nil {
		return nil, fmt.Errorf("read stored offsets of %s/%d from %s: %w", topic, partition, s.db, err)
	}
	defer rest.Close()
	for rest.Next() {
		var o uint64
		if err := rest.Scan(&o); err != nil {
			return nil, err
		}
		beyond = append(beyond, o)
	}
	if err := rest.Err(); err != nil {
		return nil, err
	}
	set.more = len(beyond) > 0
	return set, nil
}
