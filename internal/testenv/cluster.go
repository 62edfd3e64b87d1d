package testenv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Shape and settings of the test cluster.
const (
	// ClusterName is the remote_servers name of the test cluster.
	ClusterName = "faultline"
	// ClusterShards and ClusterReplicas give its shape: 2 shards of 2 replicas.
	ClusterShards   = 2
	ClusterReplicas = 2
	// ClusterDDLTimeout is the nodes' distributed_ddl_task_timeout: ON CLUSTER DDL
	// with a node down fails after it instead of the server's 180 s.
	ClusterDDLTimeout = 10 * time.Second
	// ClusterZKSessionTimeout is the nodes' ZooKeeper session timeout. A SIGKILLed
	// replica restarted sooner than this waits for its old session to expire.
	ClusterZKSessionTimeout = 3 * time.Second
	// ClusterDDLPath is the ZooKeeper path of the distributed DDL queue.
	ClusterDDLPath = "/clickhouse/task_queue/ddl"
)

// Cluster is ZooKeeper and four clickhouse-server 18.16 processes on loopback
// ports, 2 shards x 2 replicas, as remote_servers cluster ClusterName with macros
// {shard} (01, 02) and {replica} (unique across the cluster: s01r1, ...).
type Cluster struct {
	Name       string        // remote_servers name, for ON CLUSTER and Distributed
	ZooKeeper  *ZooKeeper    // the coordination service
	Nodes      []*Node       // shard-major: shard 1 replica 1, shard 1 replica 2, shard 2 ...
	DDLTimeout time.Duration // distributed_ddl_task_timeout of the default profile
	Dir        string
}

// Node is one clickhouse-server of a Cluster. Connect as user default.
type Node struct {
	Shard    int    // 1-based
	Replica  int    // 1-based within the shard
	Name     string // the {replica} macro, e.g. s01r2
	Addr     string // native protocol, 127.0.0.1:port
	HTTPAddr string // HTTP interface, 127.0.0.1:port
	Dir      string // data, config and logs

	srv *Server
}

// ShardNodes returns the replicas of shard (1-based).
func (c *Cluster) ShardNodes(shard int) []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Shard == shard {
			out = append(out, n)
		}
	}
	return out
}

// Addrs returns every node's native address, shard-major.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Start starts a stopped or killed node again on the same ports and data and waits
// until it answers. After Kill, wait ClusterZKSessionTimeout first: until the old
// ZooKeeper session expires the replica waits ("appears to be already active").
func (n *Node) Start(t testing.TB) {
	t.Helper()
	if err := n.srv.start(); err != nil {
		t.Fatalf("testenv: restart cluster node %s (%s): %v", n.Name, n.Addr, err)
	}
}

// Stop stops the node with SIGTERM (SIGKILL after 15 s) and waits for it. It can
// take many seconds while other nodes hold connections to it.
func (n *Node) Stop() { n.srv.Stop() }

// Kill stops the node with SIGKILL, as a crash would.
func (n *Node) Kill() { n.srv.Kill() }

// Pause stops the node with SIGSTOP, a hung server, until Continue.
func (n *Node) Pause(t testing.TB) { t.Helper(); signalProcess(t, n.srv.p, syscall.SIGSTOP) }

// Continue resumes a paused node with SIGCONT.
func (n *Node) Continue(t testing.TB) { t.Helper(); signalProcess(t, n.srv.p, syscall.SIGCONT) }

// ClickHouseCluster returns a fresh database, created ON CLUSTER, on the test
// binary's shared cluster (started on first use, stopped by Main). Tests that stop
// or pause nodes of the shared cluster must leave them running again; a test that
// breaks things for good wants StartClickHouseCluster.
func ClickHouseCluster(t testing.TB) *ClusterDB {
	t.Helper()
	c, err := binary.cluster()
	if err != nil {
		t.Fatalf("testenv: clickhouse cluster: %v", err)
	}
	return c.NewDatabase(t)
}

// StartClickHouseCluster starts a cluster of the test's own, stopped at cleanup.
func StartClickHouseCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster(t.TempDir())
	if err != nil {
		t.Fatalf("testenv: clickhouse cluster: %v", err)
	}
	t.Cleanup(c.kill)
	return c
}

// StartCluster starts a cluster with its state in dir, for tools outside tests
// (cmd/devcluster, make bench-cluster); Close stops it. profile adds settings to
// the nodes' default profile (values as in users.xml).
func StartCluster(dir string, profile map[string]string) (*Cluster, error) {
	return startClusterWith(dir, profile)
}

// Close stops every process of the cluster with SIGKILL; its state stays in Dir.
func (c *Cluster) Close() { c.kill() }

func (b *binaryState) cluster() (*Cluster, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.clusterDone {
		b.clusterDone = true
		dir, err := binaryTempDir("cluster")
		if err != nil {
			b.clusterErr = fmt.Errorf("temp dir: %w", err)
			return nil, b.clusterErr
		}
		b.clusterV, b.clusterErr = startCluster(dir)
		if b.clusterErr != nil {
			_ = os.RemoveAll(dir)
		} else {
			c := b.clusterV
			b.atExit(func() {
				c.kill()
				_ = os.RemoveAll(dir)
			})
		}
	}
	return b.clusterV, b.clusterErr
}

// startCluster starts ZooKeeper and the four servers at once; a free port taken
// by someone else in between makes it start again on other ports.
func startCluster(dir string) (*Cluster, error) { return startClusterWith(dir, nil) }

func startClusterWith(dir string, profile map[string]string) (*Cluster, error) {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		d := filepath.Join(dir, "try"+strconv.Itoa(attempt))
		var c *Cluster
		c, err = newCluster(d, profile)
		if err == nil {
			if err = c.start(); err == nil {
				return c, nil
			}
			c.kill()
		}
	}
	return nil, err
}

func newCluster(dir string, profile map[string]string) (*Cluster, error) {
	zk, err := newZooKeeper(filepath.Join(dir, "zookeeper"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{Name: ClusterName, ZooKeeper: zk, DDLTimeout: ClusterDDLTimeout, Dir: dir}
	for s := 1; s <= ClusterShards; s++ {
		for r := 1; r <= ClusterReplicas; r++ {
			name := fmt.Sprintf("s%02dr%d", s, r)
			srv, err := newServer(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			srv.p.name = "clickhouse-server " + name
			srv.p.args = append(srv.p.args, "--interserver_http_port="+strconv.Itoa(port))
			n := &Node{Shard: s, Replica: r, Name: name, Addr: srv.Addr, HTTPAddr: srv.HTTPAddr, Dir: srv.Dir, srv: srv}
			c.Nodes = append(c.Nodes, n)
		}
	}
	for _, n := range c.Nodes {
		if err := c.writeNodeConfig(n, profile); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// writeNodeConfig adds config.d/cluster.xml and users.d/cluster.xml beside the
// node's rendered deploy/clickhouse config; clickhouse-server merges them in.
func (c *Cluster) writeNodeConfig(n *Node, profile map[string]string) error {
	var shards strings.Builder
	for s := 1; s <= ClusterShards; s++ {
		shards.WriteString("            <shard>\n                <internal_replication>true</internal_replication>\n")
		for _, m := range c.ShardNodes(s) {
			_, port, _ := strings.Cut(m.Addr, ":")
			fmt.Fprintf(&shards, "                <replica><host>127.0.0.1</host><port>%s</port></replica>\n", port)
		}
		shards.WriteString("            </shard>\n")
	}
	_, zkPort, _ := strings.Cut(c.ZooKeeper.Addr, ":")
	// interserver_http_host: replicas fetch parts from the address a replica
	// announces, which is its hostname unless set.
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <zookeeper>
        <node><host>127.0.0.1</host><port>%s</port></node>
        <session_timeout_ms>%d</session_timeout_ms>
    </zookeeper>
    <distributed_ddl><path>%s</path></distributed_ddl>
    <remote_servers>
        <%s>
%s        </%s>
    </remote_servers>
    <macros><shard>%02d</shard><replica>%s</replica></macros>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>67108864</mark_cache_size>
</yandex>
`, zkPort, ClusterZKSessionTimeout.Milliseconds(), ClusterDDLPath, c.Name, shards.String(), c.Name, n.Shard, n.Name)
	var extra strings.Builder
	for _, k := range slices.Sorted(maps.Keys(profile)) {
		fmt.Fprintf(&extra, "<%s>%s</%s>", k, profile[k], k)
	}
	users := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <profiles>
        <default><distributed_ddl_task_timeout>%d</distributed_ddl_task_timeout>%s</default>
    </profiles>
</yandex>
`, int(c.DDLTimeout.Seconds()), extra.String())
	for file, body := range map[string]string{"config.d/cluster.xml": cfg, "users.d/cluster.xml": users} {
		p := filepath.Join(n.Dir, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func (c *Cluster) start() error {
	// ZooKeeper first: a server that finds no ZooKeeper at start-up gives up its
	// distributed DDL worker for good, and ON CLUSTER statements then time out.
	if err := c.ZooKeeper.start(); err != nil {
		return err
	}
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.srv.start(); err != nil {
				errs[i] = fmt.Errorf("node %s: %w", n.Name, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// An ON CLUSTER statement that arrives while a server is still opening its
	// ZooKeeper session crashes 18.16 (SIGSEGV in zkutil::ZooKeeper::createImpl): wait
	// until every server reads ZooKeeper before anyone sends one.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		if err := waitZooKeeper(ctx, n.Addr); err != nil {
			return fmt.Errorf("node %s (%s) has no ZooKeeper session: %w", n.Name, n.Addr, err)
		}
	}
	return nil
}

// waitZooKeeper polls until the server at addr reads ZooKeeper.
func waitZooKeeper(ctx context.Context, addr string) error {
	conn, err := openCH(addr, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&n)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// kill stops everything at once with SIGKILL: the data is scratch, and SIGTERM can
// take many seconds while the servers hold connections to each other.
func (c *Cluster) kill() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.srv.p.stop(syscall.SIGKILL, 5*time.Second) }()
	}
	wg.Wait()
	c.ZooKeeper.p.stop(syscall.SIGKILL, 5*time.Second)
}
