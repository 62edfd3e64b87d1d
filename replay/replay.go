// Package replay prepares a re-read of a topic range under a consumer group of its own (after
// a bug fix, or to fill a new database): it finds each partition's first and end offsets of the
// range, by offset or by record time, and commits the first ones for the group, so that an
// ingester of that group starts there and, with pipeline.RunOptions.StopAt, ends at the others.
// Replaying into the tables that hold the range stores nothing twice: the ingester's skip read
// finds every message already stored.
package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Bound is one end of a range: an offset, or a record time (when Time is set), or, when
// neither is set, the start (for From) or the end (for To) of each partition.
type Bound struct {
	Offset int64 // -1: not set
	Time   time.Time
}

// Range chooses what to replay.
type Range struct {
	Topics     []string
	Partitions []int // empty: every partition
	From, To   Bound
}

// Plan is each partition's first offset and end offset (exclusive) of a range; a partition
// not chosen has both at its end.
type Plan struct {
	From, To map[string]map[int]int64
}

// Messages is how many offsets the plan covers.
func (p Plan) Messages() int64 {
	var n int64
	for topic, parts := range p.From {
		for part, from := range parts {
			if to := p.To[topic][part]; to > from {
				n += to - from
			}
		}
	}
	return n
}

// MakePlan resolves r's bounds against the brokers, clamped to what each partition holds.
func MakePlan(ctx context.Context, c *kafka.Client, r Range) (Plan, error) {
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: r.Topics})
	if err != nil {
		return Plan{}, fmt.Errorf("replay: kafka metadata: %w", err)
	}
	want := map[int]bool{}
	for _, p := range r.Partitions {
		want[p] = true
	}
	first := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	last := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return Plan{}, fmt.Errorf("replay: kafka topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			first.Topics[t.Name] = append(first.Topics[t.Name], kafka.FirstOffsetOf(p.ID))
			last.Topics[t.Name] = append(last.Topics[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	if len(first.Topics) == 0 {
		return Plan{}, fmt.Errorf("replay: topics %v have no partitions", r.Topics)
	}
	for _, p := range r.Partitions {
		found := false
		for _, ps := range first.Topics {
			for _, o := range ps {
				found = found || o.Partition == p
			}
		}
		if !found {
			return Plan{}, fmt.Errorf("replay: no partition %d in topics %v", p, r.Topics)
		}
	}
	starts, err := list(ctx, c, first, kindFirst)
	if err != nil {
		return Plan{}, err
	}
	ends, err := list(ctx, c, last, kindLast)
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{From: map[string]map[int]int64{}, To: map[string]map[int]int64{}}
	for topic, parts := range starts {
		plan.From[topic], plan.To[topic] = map[int]int64{}, map[int]int64{}
		for p, start := range parts {
			end := ends[topic][p]
			from, err := resolve(ctx, c, r.From, topic, p, start, end)
			if err != nil {
				return Plan{}, err
			}
			to, err := resolve(ctx, c, r.To, topic, p, end, end)
			if err != nil {
				return Plan{}, err
			}
			if len(want) > 0 && !want[p] {
				// Not chosen: committed at its end, so that the group reads nothing of it.
				plan.From[topic][p], plan.To[topic][p] = end, end
				continue
			}
			plan.From[topic][p] = min(max(from, start), end)
			plan.To[topic][p] = min(max(to, plan.From[topic][p]), end)
		}
	}
	return plan, nil
}

// resolve turns a bound into an offset of one partition; def when unset.
func resolve(ctx context.Context, c *kafka.Client, b Bound, topic string, p int, def, end int64) (int64, error) {
	switch {
	case !b.Time.IsZero():
		got, err := list(ctx, c, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.TimeOffsetOf(p, b.Time)}}}, kindTime)
		if err != nil {
			return 0, err
		}
		if off, ok := got[topic][p]; ok && off >= 0 {
			return off, nil
		}
		return end, nil // no record at or after the time
	case b.Offset >= 0:
		return b.Offset, nil
	default:
		return def, nil
	}
}

type kind int

const (
	kindFirst kind = iota
	kindLast
	kindTime // one time request per partition: the offset of its first record at or after it
)

func list(ctx context.Context, c *kafka.Client, req *kafka.ListOffsetsRequest, k kind) (map[string]map[int]int64, error) {
	resp, err := c.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("replay: kafka list offsets: %w", err)
	}
	out := map[string]map[int]int64{}
	for topic, parts := range resp.Topics {
		out[topic] = map[int]int64{}
		for _, po := range parts {
			if po.Error != nil {
				return nil, fmt.Errorf("replay: kafka offsets of %s/%d: %w", topic, po.Partition, po.Error)
			}
			switch k {
			case kindFirst:
				out[topic][po.Partition] = po.FirstOffset
			case kindLast:
				out[topic][po.Partition] = po.LastOffset
			case kindTime:
				for off := range po.Offsets {
					out[topic][po.Partition] = off
				}
			}
		}
	}
	return out, nil
}

// Commit sets group's committed offsets to the plan's first offsets, as a group with no
// members may (generation -1). The group must not be in use: a replay group is new.
func Commit(ctx context.Context, c *kafka.Client, group string, p Plan) error {
	req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	for topic, parts := range p.From {
		for part, off := range parts {
			req.Topics[topic] = append(req.Topics[topic], kafka.OffsetCommit{Partition: part, Offset: off})
		}
	}
	resp, err := c.OffsetCommit(ctx, req)
	if err != nil {
		return fmt.Errorf("replay: commit start offsets for group %s: %w", group, err)
	}
	for topic, parts := range resp.Topics {
		for _, pr := range parts {
			if pr.Error != nil {
				return fmt.Errorf("replay: commit start offset of %s/%d for group %s: %w", topic, pr.Partition, group, pr.Error)
			}
		}
	}
	return nil
}
