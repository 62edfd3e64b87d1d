package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

type tp struct {
	topic     string
	partition int
}

func (in *Ingester) listEnds(ctx context.Context, parts []*partition) (map[tp]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[p.topic] = append(req.Topics[p.topic], kafka.LastOffsetOf(int(p.id)))
	}
	return in.listOffsets(ctx, req)
}

// listOffsets answers req with each partition's end offset.
func (in *Ingester) listOffsets(ctx context.Context, req *kafka.ListOffsetsRequest) (map[tp]int64, error) {
	return in.listOffsetsOf(ctx, req, func(po kafka.PartitionOffsets) int64 { return po.LastOffset })
}

// listOffsetsOf answers req with the offset pick takes from each partition's answer;
// partitions that answered with an error are left out.
func (in *Ingester) listOffsetsOf(ctx context.Context, req *kafka.ListOffsetsRequest, pick func(kafka.PartitionOffsets) int64) (map[tp]int64, error) {
	resp, err := in.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	for topic, parts := range resp.Topics {
		for _, po := range parts {
			if po.Error == nil {
				out[tp{topic, po.Partition}] = pick(po)
			}
		}
	}
	return out, nil
}

func (in *Ingester) groupCommitted(ctx context.Context, parts []*partition) (map[tp]int64, error) {
	req := &kafka.OffsetFetchRequest{GroupID: in.cfg.Kafka.Group, Topics: map[string][]int{}}
	for _, p := range parts {
		req.Topics[p.topic] = append(req.Topics[p.topic], int(p.id))
	}
	return in.offsetFetch(ctx, req)
}

func (in *Ingester) offsetFetch(ctx context.Context, req *kafka.OffsetFetchRequest) (map[tp]int64, error) {
	resp, err := in.client.OffsetFetch(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	if resp.Error != nil {
		// A group that never committed answers GROUP_ID_NOT_FOUND: nothing committed yet.
		if errors.Is(resp.Error, kafka.GroupIdNotFound) {
			return out, nil
		}
		return nil, resp.Error
	}
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if p.Error == nil && p.CommittedOffset >= 0 {
				out[tp{topic, p.Partition}] = p.CommittedOffset
			}
		}
	}
	return out, nil
}

// endOffsets returns the end offset of every partition of the configured topics that has
// anything to read: a partition whose log start equals its end (never written, or emptied by
// retention or DeleteRecords) is left out, as no commit will ever move its offset.
func (in *Ingester) endOffsets(ctx context.Context) (map[tp]int64, error) {
	meta, err := in.client.Metadata(ctx, &kafka.MetadataRequest{Topics: in.cfg.Kafka.Topics})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata from %v: %w", in.cfg.Kafka.Brokers, err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("kafka topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	ends, err := in.listOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("kafka end offsets from %v: %w", in.cfg.Kafka.Brokers, err)
	}
	starts, err := in.startOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("kafka start offsets from %v: %w", in.cfg.Kafka.Brokers, err)
	}
	for k, end := range ends {
		if start, ok := starts[k]; ok && start >= end {
			delete(ends, k)
		}
	}
	return ends, nil
}

// startOffsets returns the log start offset of each partition of an end-offset request.
func (in *Ingester) startOffsets(ctx context.Context, ends *kafka.ListOffsetsRequest) (map[tp]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for topic, parts := range ends.Topics {
		for _, p := range parts {
			req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p.Partition))
		}
	}
	return in.listOffsetsOf(ctx, req, func(po kafka.PartitionOffsets) int64 { return po.FirstOffset })
}

// waitCaughtUp returns once the group's committed offsets reach ends everywhere.
func (in *Ingester) waitCaughtUp(ctx context.Context, ends map[tp]int64) error {
	req := &kafka.OffsetFetchRequest{GroupID: in.cfg.Kafka.Group, Topics: map[string][]int{}}
	for k, end := range ends {
		if end > 0 {
			req.Topics[k.topic] = append(req.Topics[k.topic], k.partition)
		}
	}
	if len(req.Topics) == 0 {
		return nil
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain interrupted: %w", ctx.Err())
		case <-tick.C:
		}
		committed, err := in.offsetFetch(ctx, req)
		if err != nil {
			continue
		}
		caught := true
		for k, end := range ends {
			if end > 0 && committed[k] < end {
				caught = false
				break
			}
		}
		if caught {
			return nil
		}
	}
}
