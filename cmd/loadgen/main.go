// Command loadgen sends realistic API error traffic to Kafka for demos, alert
// tests, fault tests and benchmarks: catalog error types with a skewed
// distribution, bare bodies and envelopes, unknown types, malformed messages
// of every reject reason, and scripted spikes.
//
// Usage:
//
//	loadgen --count 100000                       # as fast as possible
//	loadgen --rate 500 --count 0                 # 500 events/s until Ctrl-C
//	loadgen --rate 200 --spike billing_not_verified:20x:5m@2m --summary-json truth.json
//
// Brokers, topic, SASL and TLS come from faultline's config (kafka.*: --config FILE, else the
// defaults and FAULTLINE_* environment), as for the ingester; --brokers and --topic override.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/internal/buildinfo"
	"github.com/faultline/faultline/kafkaconn"
	"github.com/faultline/faultline/loadgen"
	"github.com/faultline/faultline/schema"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newCommand(log).ExecuteContext(ctx); err != nil {
		log.Error("loadgen failed", "err", err)
		stop()
		os.Exit(1)
	}
}

type flags struct {
	config, brokers, topic, catalog, compression, balancer, summaryJSON string
	rate, historyRate, daily                                            float64
	history                                                             time.Duration
	count                                                               int64
	seed                                                                uint64
	malformed, unknown, envelope, live                                  float64
	spikes                                                              []string
	partitions, concurrency                                             int
}

func newCommand(log *slog.Logger) *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:           "loadgen",
		Short:         "Send realistic API error events to Kafka",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), log, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "faultline config file for kafka.* (default: built-in defaults and FAULTLINE_* environment)")
	fl.StringVar(&f.brokers, "brokers", "", "comma-separated Kafka brokers (default: kafka.brokers, env FAULTLINE_KAFKA_BROKERS)")
	fl.StringVar(&f.topic, "topic", "", "topic to write (default: kafka.topic, env FAULTLINE_KAFKA_TOPIC)")
	fl.StringVar(&f.catalog, "catalog", "", "error catalog JSON (default: the embedded catalog)")
	fl.Float64Var(&f.rate, "rate", 0, "events per second (0: as fast as possible, then --count is required)")
	fl.Int64Var(&f.count, "count", 0, "messages to send (0 with --rate: until Ctrl-C/SIGTERM)")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed: the same seed sends the same messages")
	fl.Float64Var(&f.malformed, "malformed-share", loadgen.DefaultMalformedShare, "share of malformed messages (rejected or flagged)")
	fl.Float64Var(&f.unknown, "unknown-share", loadgen.DefaultUnknownShare, "share of error types not in the catalog")
	fl.Float64Var(&f.envelope, "envelope-share", loadgen.DefaultEnvelopeShare, "share of envelopes (the rest are bare API bodies)")
	fl.Float64Var(&f.live, "live-share", loadgen.DefaultLiveShare, "share of request-id-live- request ids (the rest are -test-)")
	fl.StringArrayVar(&f.spikes, "spike", nil, "TYPE:FACTORx:DURATION[@START], e.g. billing_not_verified:20x:5m@2m (repeatable)")
	fl.IntVar(&f.partitions, "partitions", 6, "partitions of the topic when loadgen creates it")
	fl.StringVar(&f.compression, "compression", "lz4", "none, lz4, snappy, gzip or zstd")
	fl.StringVar(&f.balancer, "balancer", "hash", "hash (by organization or request id) or round-robin")
	fl.IntVar(&f.concurrency, "concurrency", 4, "writes in flight")
	fl.DurationVar(&f.history, "history", 0, "first write this much back-dated traffic (e.g. 6h) ending now, as fast as the broker takes it, so queries have a baseline")
	fl.Float64Var(&f.historyRate, "history-rate", 0, "mean events per second of the --history traffic (0: --rate)")
	fl.Float64Var(&f.daily, "daily-amplitude", 0, "daily shape of the rate, 0 (flat) to below 1: 0.5 runs from half the rate at night to 1.5x at 14:00 UTC")
	fl.StringVar(&f.summaryJSON, "summary-json", "", "write the ground truth of the delivered messages (loadgen.Expected) to this file")
	buildinfo.Cobra(cmd)
	return cmd
}

// options checks the flags and turns them into generator options; errors
// name the flag and its value.
func options(f flags, cat *catalog.Catalog) (loadgen.Options, error) {
	o := loadgen.DefaultOptions()
	o.Seed = f.seed
	for _, s := range []struct {
		name string
		v    float64
		dst  *float64
	}{
		{"--malformed-share", f.malformed, &o.MalformedShare}, {"--unknown-share", f.unknown, &o.UnknownShare},
		{"--envelope-share", f.envelope, &o.EnvelopeShare}, {"--live-share", f.live, &o.LiveShare},
	} {
		if !(s.v >= 0 && s.v <= 1) {
			return o, fmt.Errorf("%s %v: want a share within 0..1", s.name, s.v)
		}
		*s.dst = s.v
	}
	if !(f.daily >= 0 && f.daily < 1) {
		return o, fmt.Errorf("--daily-amplitude %v: want 0 or more and below 1", f.daily)
	}
	o.DailyAmplitude = f.daily
	if o.MalformedShare+o.UnknownShare > 1 {
		return o, fmt.Errorf("--malformed-share %v + --unknown-share %v: together above 1", o.MalformedShare, o.UnknownShare)
	}
	for _, v := range f.spikes {
		sp, err := loadgen.ParseSpike(v)
		if err != nil {
			return o, fmt.Errorf("--spike %q: %w", v, err)
		}
		if _, ok := cat.Lookup(sp.ErrorType); !ok {
			return o, fmt.Errorf("--spike %q: error type %q is not in the catalog", v, sp.ErrorType)
		}
		o.Spikes = append(o.Spikes, sp)
	}
	if err := o.Validate(cat); err != nil {
		return o, err
	}
	return o, nil
}

func run(ctx context.Context, log *slog.Logger, f flags) error {
	if f.rate < 0 || f.count < 0 {
		return fmt.Errorf("--rate %v / --count %d: must not be negative", f.rate, f.count)
	}
	if f.rate == 0 && f.count == 0 && f.history == 0 {
		return errors.New("give --count N (as fast as possible), --rate R (until Ctrl-C), or both; or --history D with --history-rate R alone")
	}
	if f.history < 0 || f.historyRate < 0 || (f.history > 0 && f.historyRate == 0 && f.rate == 0) {
		return fmt.Errorf("--history %s / --history-rate %v: want a positive duration and a rate (--history-rate or --rate)", f.history, f.historyRate)
	}
	if f.partitions < 1 {
		return fmt.Errorf("--partitions %d: want at least 1", f.partitions)
	}
	cat, err := schema.LoadCatalog(f.catalog, "")
	if err != nil {
		return fmt.Errorf("--catalog %q: %w", f.catalog, err)
	}
	opts, err := options(f, cat)
	if err != nil {
		return err
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return err
	}
	kcfg := cfg.Kafka
	if f.brokers != "" {
		brokers := slices.DeleteFunc(strings.Split(f.brokers, ","), func(s string) bool { return strings.TrimSpace(s) == "" })
		for i := range brokers {
			brokers[i] = strings.TrimSpace(brokers[i])
		}
		if len(brokers) == 0 {
			return fmt.Errorf("--brokers %q: no broker address", f.brokers)
		}
		kcfg.Brokers = brokers
	}
	if f.topic == "" {
		if len(kcfg.Topics) != 1 {
			return fmt.Errorf("kafka.topic names %d topics %v: pick the one to write with --topic", len(kcfg.Topics), kcfg.Topics)
		}
		f.topic = kcfg.Topics[0]
	}
	kc, err := kafkaconn.New(kcfg)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = kc.Check(cctx)
	cancel()
	if err != nil {
		return err
	}
	f.brokers = strings.Join(kcfg.Brokers, ",")
	w, err := loadgen.NewWriter(loadgen.WriterConfig{Brokers: kcfg.Brokers, Topic: f.topic, Balancer: f.balancer,
		Compression: f.compression, Transport: kc.Transport()})
	if err != nil {
		return err
	}
	defer w.Close()

	ectx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = loadgen.EnsureTopic(ectx, kc.Dialer(), kcfg.Brokers[0], f.topic, f.partitions)
	cancel()
	if err != nil {
		return err
	}

	if f.history > 0 {
		if err := history(ctx, log, w, cat, opts, f); err != nil {
			return err
		}
		if ctx.Err() != nil || (f.rate == 0 && f.count == 0) {
			return nil // stopped, or history only
		}
	}

	gen := loadgen.New(cat, opts)
	log.Info("sending", "brokers", f.brokers, "security", kc.Security(), "topic", f.topic, "rate", f.rate, "count", f.count,
		"seed", f.seed, "spikes", len(opts.Spikes), "catalog_types", cat.Len())
	st, perr := loadgen.Produce(ctx, w, gen, f.rate, f.count, loadgen.ProduceOptions{Log: log, Concurrency: f.concurrency})

	d := st.Delivered
	log.Info("done", "sent", st.Sent, "errors", st.Errors, "elapsed", st.Elapsed.Round(time.Millisecond),
		"events_per_s", int64(st.Rate()), "accepted", d.ByKind["accepted"], "flagged", d.ByKind["flagged"],
		"unknown", d.ByKind["unknown"], "rejected", d.ByKind["rejected"], "bytes", d.Bytes)
	if f.summaryJSON != "" {
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return fmt.Errorf("encode summary: %w", err)
		}
		if err := os.WriteFile(f.summaryJSON, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--summary-json %q: %w", f.summaryJSON, err)
		}
	}
	return perr
}

// history writes f.history of back-dated traffic ending now, from a generator of its own:
// no spikes (they belong to the live run, counted from its start), the same seed (the same
// error types are common, as they will be live) and another stream (no request id repeats
// the live run's).
func history(ctx context.Context, log *slog.Logger, w *kafka.Writer, cat *catalog.Catalog, opts loadgen.Options, f flags) error {
	hopts := opts
	hopts.Spikes = nil
	hopts.Stream = 1
	gen := loadgen.New(cat, hopts)
	rate := f.historyRate
	if rate == 0 {
		rate = f.rate
	}
	until := time.Now()
	h := loadgen.History{From: until.Add(-f.history), Until: until, Rate: rate}
	log.Info("writing history", "from", h.From.UTC().Format(time.RFC3339), "until", h.Until.UTC().Format(time.RFC3339),
		"rate", rate, "daily_amplitude", opts.DailyAmplitude, "messages", h.Count(gen))
	st, err := loadgen.ProduceHistory(ctx, w, gen, h, loadgen.ProduceOptions{Log: log, Concurrency: f.concurrency})
	log.Info("history done", "sent", st.Sent, "errors", st.Errors, "elapsed", st.Elapsed.Round(time.Millisecond),
		"events_per_s", int64(st.Rate()))
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}
