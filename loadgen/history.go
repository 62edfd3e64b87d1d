package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/segmentio/kafka-go"
)

// PeakHour is the UTC hour of the busiest traffic in the daily shape; the quietest is twelve
// hours later.
const PeakHour = 14

// DailyShape is the rate multiplier at t for a day-shaped traffic of the given amplitude
// (0 flat, below 1): 1 + amplitude*cos(2π(h-PeakHour)/24) for the hour of day h in UTC.
// It averages 1 over a day, so a rate stays the day's mean rate.
func DailyShape(t time.Time, amplitude float64) float64 {
	if amplitude == 0 {
		return 1
	}
	t = t.UTC()
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	return 1 + amplitude*math.Cos(2*math.Pi*(h-PeakHour)/24)
}

// History is a span of back-dated traffic: every message between From and Until carries its
// own past time as Kafka time and envelope timestamp, so the stored events form a history
// with the generator's daily shape.
type History struct {
	From, Until time.Time
	// Rate is the mean events per second (the generator's RateFactor shapes it).
	Rate float64
	// Step is the time resolution of the history (default 1 s).
	Step time.Duration
}

// Count is about how many messages h makes with generator g's shape (no spikes counted).
func (h History) Count(g *Generator) int64 {
	step := h.step()
	var n float64
	for t := h.From; t.Before(h.Until); t = t.Add(step) {
		n += h.Rate * DailyShape(t, g.opts.DailyAmplitude) * step.Seconds()
	}
	return int64(n)
}

func (h History) step() time.Duration {
	if h.Step <= 0 {
		return time.Second
	}
	return h.Step
}

func (h History) validate() error {
	if !(h.Rate > 0) || math.IsInf(h.Rate, 0) {
		return fmt.Errorf("loadgen: history rate %v must be above 0", h.Rate)
	}
	if !h.From.Before(h.Until) {
		return fmt.Errorf("loadgen: history from %s is not before until %s", h.From.Format(time.RFC3339), h.Until.Format(time.RFC3339))
	}
	return nil
}

// ProduceHistory writes the back-dated traffic h of gen to w as fast as the broker takes it
// and returns what was delivered. Use a generator of its own (with no spikes): a Generator's
// spike offsets count from its first message, which here lies in the past. Like Produce, a
// cancelled ctx is a normal stop.
func ProduceHistory(ctx context.Context, w *kafka.Writer, gen *Generator, h History, po ProduceOptions) (Stats, error) {
	if err := h.validate(); err != nil {
		return Stats{}, err
	}
	if gen == nil {
		return Stats{}, errors.New("loadgen: history needs a generator")
	}
	if po.Total == 0 {
		po.Total = h.Count(gen)
	}
	return produce(ctx, w, po, func(ctx context.Context, po ProduceOptions, out chan<- batch) {
		generateHistory(ctx, gen, h, po, out)
	})
}

// generateHistory walks h in steps, each with rate x RateFactor x step messages (the
// fractions carried over), spread evenly over the step, in writes of up to MaxBatch.
func generateHistory(ctx context.Context, gen *Generator, h History, po ProduceOptions, out chan<- batch) {
	step := h.step()
	var b batch
	flush := func() bool {
		if len(b.msgs) == 0 {
			return true
		}
		select {
		case out <- b:
			b = batch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	var tokens float64
	for t := h.From; t.Before(h.Until); t = t.Add(step) {
		tokens += h.Rate * gen.RateFactor(t) * step.Seconds()
		n := int(tokens)
		tokens -= float64(n)
		for i := range n {
			mt := t.Add(step * time.Duration(i) / time.Duration(n))
			m := gen.Next(mt)
			b.msgs = append(b.msgs, m)
			b.km = append(b.km, kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time})
			if len(b.msgs) >= po.MaxBatch && !flush() {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
	flush()
}
