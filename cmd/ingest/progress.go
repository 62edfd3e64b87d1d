package main

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/progress"
)

// drainProgress shows --drain's progress on w until ctx ends, from the ingester's own metrics
// (no hook into the pipeline): done is the messages consumed, total adds the lag left, or is
// fixed (a replay's range: its group's lag runs to the topic's end, past the range).
func drainProgress(ctx context.Context, w io.Writer, tty bool, reg prometheus.Gatherer, what string, fixed int64) func() {
	m := progress.New(w, what, "messages", progress.Options{Terminal: tty})
	update := func() {
		done, lag := sample(reg)
		if fixed > 0 {
			m.Update(min(done, fixed), fixed)
			return
		}
		m.Update(done, done+lag)
	}
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			update()
			select {
			case <-ctx.Done():
				update()
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

// sample sums faultline_messages_consumed_total and faultline_consumer_lag_messages.
func sample(reg prometheus.Gatherer) (consumed, lag int64) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			switch mf.GetName() {
			case "faultline_messages_consumed_total":
				consumed += int64(mt.GetCounter().GetValue())
			case "faultline_consumer_lag_messages":
				lag += int64(mt.GetGauge().GetValue())
			}
		}
	}
	return consumed, lag
}
