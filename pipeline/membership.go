package pipeline

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// keepMembership heartbeats the group as gen's member from the moment the generation ends
// until every partition of it is released (flushed and committed, or abandoned).
//
// kafka-go stops heartbeating when a generation ends, yet its partitions flush then (on
// shutdown, on a revoke). A flush longer than the session timeout (ClickHouse slow, a shard
// coming back, a block's views being repaired) would get the member thrown out of the group
// and its partitions handed to another member while its inserts still run: the next owner
// would read what is stored too early and store the rest again. While it heartbeats, the
// group waits for it: a rebalance until it rejoins (or the rebalance timeout), a shutdown
// until it leaves.
func (in *Ingester) keepMembership(ctx context.Context, gen *kafka.Generation, released *sync.WaitGroup) {
	<-ctx.Done()
	done := make(chan struct{})
	go func() { released.Wait(); close(done) }()
	interval := in.cfg.Kafka.HeartbeatInterval
	if interval <= 0 {
		interval = 3 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var coordinator net.Addr
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		err := func() error {
			hctx, cancel := context.WithTimeout(context.Background(), interval)
			defer cancel()
			if coordinator == nil {
				addr, err := in.admin.coordinator(hctx)
				if err != nil {
					return err
				}
				coordinator = addr
			}
			resp, err := in.admin.client.Heartbeat(hctx, &kafka.HeartbeatRequest{Addr: coordinator,
				GroupID: gen.GroupID, GenerationID: gen.ID, MemberID: gen.MemberID})
			if err != nil {
				return err
			}
			return resp.Error
		}()
		switch {
		case err == nil, errors.Is(err, kafka.RebalanceInProgress):
			// In a rebalance the heartbeat still keeps the session: the group waits for
			// this member to rejoin once its partitions are released.
		case errors.Is(err, kafka.UnknownMemberId), errors.Is(err, kafka.IllegalGeneration):
			in.sourceM.KafkaErrors.WithLabelValues("heartbeat").Inc()
			in.log.Warn("the group gave this member's partitions away while they were still flushing; their next owner waits out the inserts in flight",
				"generation", gen.ID, "error", err)
			return
		default:
			in.sourceM.KafkaErrors.WithLabelValues("heartbeat").Inc()
			in.log.Warn("heartbeat while flushing failed; retrying", "generation", gen.ID, "error", err)
			coordinator = nil // it may have moved
		}
	}
}

// coordinator returns the address of the group's coordinator, which heartbeats must reach.
func (a *admin) coordinator(ctx context.Context) (net.Addr, error) {
	resp, err := a.client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: a.group, KeyType: kafka.CoordinatorKeyTypeConsumer})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	if resp.Coordinator == nil {
		return nil, errors.New("no coordinator for group " + a.group)
	}
	return kafka.TCP(net.JoinHostPort(resp.Coordinator.Host, strconv.Itoa(resp.Coordinator.Port))), nil
}
