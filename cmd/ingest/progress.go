package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/progress"
	"github.com/faultline/faultline/replay"
)

// drainProgress shows --drain's progress on w until ctx ends: sample says how far it is.
func drainProgress(ctx context.Context, w io.Writer, tty bool, what string, sample func(context.Context) (done, total int64)) func() {
	m := progress.New(w, what, "messages", progress.Options{Terminal: tty})
	update := func(ctx context.Context) { m.Update(sample(ctx)) }
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			update(ctx)
			select {
			case <-ctx.Done():
				// The last look, after Run: the group's final commits are in.
				fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
				update(fctx)
				fcancel()
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-stopped
		m.Finish()
	}
}

// replaySample is a replay's progress: the messages this process consumed, of the range's
// fixed size (its group's lag runs to the topic's end, past the range).
func replaySample(reg prometheus.Gatherer, total int64) func(context.Context) (int64, int64) {
	return func(context.Context) (int64, int64) { return min(consumed(reg), total), total }
}

// consumed sums faultline_messages_consumed_total.
func consumed(reg prometheus.Gatherer) int64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var n int64
	for _, mf := range mfs {
		if mf.GetName() == "faultline_messages_consumed_total" {
			for _, mt := range mf.GetMetric() {
				n += int64(mt.GetCounter().GetValue())
			}
		}
	}
	return n
}

// groupDrain is a drain's progress as the whole group sees it: the offsets the group has
// committed since the start, of what lay between its committed offsets and the end offsets
// at the start. Every ingester of a group shows the same figure (each one's consumed count is
// only its share), and the total is fixed: a consumed count plus the lag gauge, refreshed
// every 2 s, counted what was read since the last refresh twice (1.14M shown for 1M).
type groupDrain struct {
	client   *kafka.Client
	group    string
	from, to map[string]map[int]int64
	total    int64
	done     int64 // last answer, shown again while Kafka does not answer
}

// newGroupDrain reads where the drain starts and ends. A partition the group never committed
// starts at its first offset, or at its end with kafka.start_offset latest.
func newGroupDrain(ctx context.Context, client *kafka.Client, k config.Kafka) (*groupDrain, error) {
	plan, err := replay.MakePlan(ctx, client, replay.Range{Topics: k.Topics, From: replay.Bound{Offset: -1}, To: replay.Bound{Offset: -1}})
	if err != nil {
		return nil, fmt.Errorf("drain progress: %w", err)
	}
	g := &groupDrain{client: client, group: k.Group, from: plan.From, to: plan.To}
	committed, err := g.committed(ctx)
	if err != nil {
		return nil, fmt.Errorf("drain progress: committed offsets of group %s: %w", k.Group, err)
	}
	for topic, parts := range g.from {
		for p, start := range parts {
			from := start
			if c, ok := committed[topic][p]; ok {
				from = max(c, start)
			} else if k.StartOffset == "latest" {
				from = g.to[topic][p]
			}
			g.from[topic][p] = min(from, g.to[topic][p])
			g.total += g.to[topic][p] - g.from[topic][p]
		}
	}
	return g, nil
}

// committed is the group's committed offsets of the drain's partitions; none for a group
// that never committed.
func (g *groupDrain) committed(ctx context.Context) (map[string]map[int]int64, error) {
	req := &kafka.OffsetFetchRequest{GroupID: g.group, Topics: map[string][]int{}}
	for topic, parts := range g.from {
		for p := range parts {
			req.Topics[topic] = append(req.Topics[topic], p)
		}
	}
	resp, err := g.client.OffsetFetch(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int]int64{}
	if resp.Error != nil {
		if errors.Is(resp.Error, kafka.GroupIdNotFound) {
			return out, nil
		}
		return nil, resp.Error
	}
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if p.Error == nil && p.CommittedOffset >= 0 {
				if out[topic] == nil {
					out[topic] = map[int]int64{}
				}
				out[topic][p.Partition] = p.CommittedOffset
			}
		}
	}
	return out, nil
}

// sample is the group's progress now: done counts offsets committed past each partition's
// start, up to its end.
func (g *groupDrain) sample(ctx context.Context) (done, total int64) {
	committed, err := g.committed(ctx)
	if err != nil {
		return g.done, g.total
	}
	var n int64
	for topic, parts := range g.from {
		for p, from := range parts {
			if c, ok := committed[topic][p]; ok {
				n += max(0, min(c, g.to[topic][p])-from)
			}
		}
	}
	g.done = max(g.done, n)
	return g.done, g.total
}
