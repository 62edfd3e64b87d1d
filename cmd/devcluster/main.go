// Command devcluster runs the test ClickHouse cluster of internal/testenv (ZooKeeper and
// four clickhouse-server 18.16 processes, 2 shards x 2 replicas, remote_servers name
// "faultline", on free loopback ports) as a standalone process, for make bench-cluster
// and by hand. It writes the nodes' addresses as shell variables to --env-file once the
// cluster answers and stops everything on SIGTERM/SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/faultline/faultline/internal/testenv"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("devcluster failed", "err", err)
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("devcluster", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory for the cluster's state (required; kept after exit)")
	envFile := fs.String("env-file", "", "file to write CLUSTER_NAME, CLUSTER_ADDRS (native, comma-separated), CLUSTER_HTTP and ZOOKEEPER_ADDR to")
	syncInserts := fs.Bool("sync-inserts", false, "set insert_distributed_sync=1 in the nodes' default profile")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("--dir is required")
	}
	profile := map[string]string{}
	if *syncInserts {
		profile["insert_distributed_sync"] = "1"
	}
	c, err := testenv.StartCluster(*dir, profile)
	if err != nil {
		return err
	}
	defer c.Close()
	var addrs, http []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr)
		http = append(http, n.HTTPAddr)
	}
	if *envFile != "" {
		body := fmt.Sprintf("CLUSTER_NAME=%s\nCLUSTER_ADDRS=%s\nCLUSTER_HTTP=%s\nZOOKEEPER_ADDR=%s\n",
			c.Name, strings.Join(addrs, ","), strings.Join(http, ","), c.ZooKeeper.Addr)
		if err := os.WriteFile(*envFile, []byte(body), 0o644); err != nil {
			return fmt.Errorf("write --env-file: %w", err)
		}
	}
	log.Info("cluster ready", "name", c.Name, "nodes", addrs, "zookeeper", c.ZooKeeper.Addr, "dir", *dir)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	log.Info("stopping the cluster")
	return nil
}
