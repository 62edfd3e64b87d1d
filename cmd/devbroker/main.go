// Command devbroker runs a Kafka-protocol broker (franz-go's kfake) as a
// standalone process for development, tests and CI, where no Apache Kafka can be
// installed. With --brokers N it is a cluster of N brokers on consecutive ports
// (partition leadership and group coordinators spread over them), so clients see
// more than one broker as they would in production.
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
	addr := fs.String("addr", "127.0.0.1:9092", "host:port to listen on (and to advertise to clients); with --brokers N, the first of N consecutive ports")
	brokers := fs.Int("brokers", 1, "brokers in the cluster, on the port of --addr and the ports after it")
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
	if *brokers < 1 {
		return fmt.Errorf("--brokers must be at least 1, got %d", *brokers)
	}
	if port+*brokers-1 > 65535 || (port == 0 && *brokers > 1) {
		return fmt.Errorf("--brokers %d from port %d of --addr %q: ports past 65535 (or port 0 with more than one broker)", *brokers, port, *addr)
	}
	ports := make([]int, *brokers)
	for i := range ports {
		ports[i] = port + i
	}
	if *partitions < 1 {
		return fmt.Errorf("--partitions must be at least 1, got %d", *partitions)
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(*brokers),
		kfake.Ports(ports...),
		// kfake always listens on 127.0.0.1; honour the host of --addr instead, on the
		// port kfake asks for.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(address)
			if err != nil {
				return nil, fmt.Errorf("kfake listen address %q: %w", address, err)
			}
			return net.Listen(network, net.JoinHostPort(host, p))
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
	log.Info("devbroker listening", "addrs", c.ListenAddrs(), "brokers", *brokers, "data_dir", *dataDir,
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
