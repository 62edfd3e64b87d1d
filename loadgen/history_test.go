package loadgen_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/loadgen"
)

func TestDailyShape(t *testing.T) {
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		at   time.Time
		amp  float64
		want float64
	}{
		{"flat", day.Add(3 * time.Hour), 0, 1},
		{"peak", day.Add(loadgen.PeakHour * time.Hour), 0.5, 1.5},
		{"trough twelve hours later", day.Add((loadgen.PeakHour + 12) * time.Hour), 0.5, 0.5},
		{"six hours before the peak is the mean", day.Add((loadgen.PeakHour - 6) * time.Hour), 0.5, 1},
		{"another zone, same instant", day.Add(loadgen.PeakHour * time.Hour).In(time.FixedZone("X", 5*3600)), 0.3, 1.3},
	} {
		if got := loadgen.DailyShape(c.at, c.amp); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: DailyShape = %v, want %v", c.name, got, c.want)
		}
	}
	var sum float64
	for m := 0; m < 24*60; m++ {
		sum += loadgen.DailyShape(day.Add(time.Duration(m)*time.Minute), 0.6)
	}
	if mean := sum / (24 * 60); math.Abs(mean-1) > 1e-6 {
		t.Errorf("mean over a day %v, want 1", mean)
	}
}

// TestProduceHistoryBackdates writes a day of history to kfake and reads it back: every
// message carries a past Kafka time inside the span, envelope timestamps agree, the count is
// what the shape promises, and the peak hour is busier than the night by the amplitude.
func TestProduceHistoryBackdates(t *testing.T) {
	const topic = "history"
	cat := loadCatalog(t)
	addr := startBroker(t, topic)
	w, err := loadgen.NewWriter(loadgen.WriterConfig{Brokers: []string{addr}, Topic: topic, Compression: "lz4", Transport: testenv.WriterTransport(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	opts := loadgen.DefaultOptions()
	opts.DailyAmplitude = 0.5
	opts.MalformedShare = 0 // every message a checkable event with a time
	gen := loadgen.New(cat, opts)
	until := time.Now().UTC().Truncate(time.Hour)
	h := loadgen.History{From: until.Add(-24 * time.Hour), Until: until, Rate: 0.4}
	want := h.Count(gen)
	st, err := loadgen.ProduceHistory(context.Background(), w, gen, h, loadgen.ProduceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent < want-1 || st.Sent > want+1 || st.Errors != 0 {
		t.Fatalf("sent %d (errors %d), want %d", st.Sent, st.Errors, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	perHour := map[int]int{}
	var n int64
	for p := range 6 {
		conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p, MaxWait: time.Second})
		for off := int64(0); off < last; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Time.Before(h.From) || !m.Time.Before(h.Until) {
				t.Fatalf("%d/%d: Kafka time %s outside [%s, %s)", p, off, m.Time, h.From, h.Until)
			}
			v := classify(cat, m.Value, m.Time)
			if v.reason != "" {
				t.Fatalf("%d/%d rejected (%s): %.200q", p, off, v.reason, m.Value)
			}
			for _, f := range v.flags {
				if f == loadgen.FlagBadTimestamp {
					t.Fatalf("%d/%d: envelope time disagrees with the Kafka time (%s): %.300q", p, off, f, m.Value)
				}
			}
			perHour[m.Time.UTC().Hour()]++
			n++
		}
		r.Close()
	}
	if n != st.Sent {
		t.Fatalf("read %d messages, sent %d", n, st.Sent)
	}
	peak, night := perHour[loadgen.PeakHour], perHour[(loadgen.PeakHour+12)%24]
	// expected 0.4*3600*~1.49 = 2150 vs ~725: a ratio near 3.
	if ratio := float64(peak) / float64(night); ratio < 2.5 || ratio > 3.5 {
		t.Errorf("peak hour %d events, night hour %d: ratio %.2f, want about 3 (amplitude 0.5)", peak, night, ratio)
	}
}

func TestHistoryRejectsBadSpans(t *testing.T) {
	gen := loadgen.New(loadCatalog(t), loadgen.DefaultOptions())
	now := time.Now()
	for _, h := range []loadgen.History{
		{From: now, Until: now.Add(-time.Hour), Rate: 1},
		{From: now.Add(-time.Hour), Until: now, Rate: 0},
		{From: now.Add(-time.Hour), Until: now, Rate: math.Inf(1)},
	} {
		if _, err := loadgen.ProduceHistory(context.Background(), nil, gen, h, loadgen.ProduceOptions{}); err == nil {
			t.Errorf("history %+v accepted", h)
		}
	}
	o := loadgen.DefaultOptions()
	o.DailyAmplitude = 1
	if err := o.Validate(loadCatalog(t)); err == nil {
		t.Error("daily amplitude 1 accepted")
	}
}

// TestStreamKeepsTheRanking: a history generator (Stream 1) has the live run's hot types but
// none of its request ids.
func TestStreamKeepsTheRanking(t *testing.T) {
	cat := loadCatalog(t)
	live := loadgen.New(cat, loadgen.DefaultOptions())
	o := loadgen.DefaultOptions()
	o.Stream = 1
	hist := loadgen.New(cat, o)
	other := loadgen.DefaultOptions()
	other.Seed = 2
	reseeded := loadgen.New(cat, other)
	same, differs := 0, 0
	for _, e := range cat.Entries() {
		if live.TypeShare(e.ErrorType) == hist.TypeShare(e.ErrorType) {
			same++
		}
		if live.TypeShare(e.ErrorType) != reseeded.TypeShare(e.ErrorType) {
			differs++
		}
	}
	if same != cat.Len() || differs == 0 {
		t.Fatalf("shares equal for %d of %d types with Stream 1 (want all), %d differ with another seed (want some)", same, cat.Len(), differs)
	}
	now := time.Now()
	seen := map[string]bool{}
	for range 2000 {
		seen[string(live.Next(now).Value)] = true
	}
	for range 2000 {
		if m := hist.Next(now); seen[string(m.Value)] {
			t.Fatalf("history repeats a live message: %.200q", m.Value)
		}
	}
}
