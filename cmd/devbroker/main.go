// Command devbroker runs a single-node Kafka-protocol broker (franz-go's kfake)
// as a standalone process for development, tests and CI, where no Apache Kafka
// can be installed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faultline/faultline/internal/buildinfo"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("devbroker failed", "err", err)
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("devbroker", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9092", "host:port to listen on (and to advertise to clients)")
	dataDir := fs.String("data-dir", "", "directory for persistence across restarts (empty: in memory only)")
	topic := fs.String("topic", "api-errors", "topic to create on first start (empty: none)")
	partitions := fs.Int("partitions", 6, "partitions of --topic")
	minSession := fs.Duration("group-min-session-timeout", 6*time.Second, "smallest consumer group session timeout the broker accepts")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println(buildinfo.Get().String("devbroker"))
		return nil
	}

	host, portStr, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("parse --addr %q: %w", *addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("parse port of --addr %q: %w", *addr, err)
	}
	if *partitions < 1 {
		return fmt.Errorf("--partitions must be at least 1, got %d", *partitions)
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		// kfake always listens on 127.0.0.1; honour the host of --addr instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
		kfake.GroupMinSessionTimeout(*minSession),
	}
	if *topic != "" {
		// Seed topics apply only when the data dir holds no state yet.
		opts = append(opts, kfake.SeedTopics(int32(*partitions), *topic))
	}
	if *dataDir != "" {
		if err := os.MkdirAll(*dataDir, 0o755); err != nil {
			return fmt.Errorf("create data dir %s: %w", *dataDir, err)
		}
		// SyncWrites: a kill -9 of the dev broker must not lose acknowledged messages.
		opts = append(opts, kfake.DataDir(*dataDir), kfake.SyncWrites())
	}

	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker on %s: %w", *addr, err)
	}
	log.Info("devbroker listening", "addrs", c.ListenAddrs(), "data_dir", *dataDir,
		"topic", *topic, "partitions", *partitions, "group_min_session_timeout", *minSession)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	stop() // a second signal now kills the process the default way

	log.Info("devbroker shutting down")
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
		log.Info("devbroker stopped")
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("shutdown took longer than 30s")
	}
}
