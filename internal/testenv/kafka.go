package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaBroker is an in-process kfake Kafka cluster on random loopback ports, closed at
// cleanup.
type KafkaBroker struct {
	Addr    string         // host:port of the first broker, for Kafka clients
	Addrs   []string       // host:port of every broker, by node ID (0, 1, ...)
	Cluster *kfake.Cluster // for kfake's fault hooks (ControlKey, etc.)

	conns *connRegistry
}

// Broker starts an in-process kfake broker with topic seeded to partitions
// (no topic when topic is ""). It allows auto topic creation and session
// timeouts down to 500 ms so group tests are fast. extra options come last, for example
// kfake.EnableSASL(), kfake.Superuser(...) and kfake.TLS(...) for a secured broker.
func Broker(t testing.TB, topic string, partitions int, extra ...kfake.Opt) *KafkaBroker {
	t.Helper()
	return Brokers(t, 1, topic, partitions, extra...)
}

// Brokers is Broker with a cluster of n brokers: partition leadership and group
// coordinators are spread over them, and TakeAway can take one of them away mid-run.
func Brokers(t testing.TB, n int, topic string, partitions int, extra ...kfake.Opt) *KafkaBroker {
	t.Helper()
	if n < 1 {
		t.Fatalf("testenv: Brokers(%d): at least one broker", n)
	}
	conns := &connRegistry{byAddr: map[string]map[net.Conn]struct{}{}}
	opts := []kfake.Opt{
		kfake.NumBrokers(n),
		kfake.ListenFn(conns.listen),
		kfake.AllowAutoTopicCreation(),
		kfake.GroupMinSessionTimeout(500 * time.Millisecond),
	}
	if topic != "" {
		if partitions < 1 {
			t.Fatalf("testenv: Broker(%q, %d): partitions must be at least 1", topic, partitions)
		}
		opts = append(opts, kfake.SeedTopics(int32(partitions), topic))
	}
	opts = append(opts, extra...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("testenv: start kfake broker: %v", err)
	}
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs() // in node order: kfake numbers its brokers 0..n-1
	return &KafkaBroker{Addr: addrs[0], Addrs: addrs, Cluster: c, conns: conns}
}

// TakeAway makes broker node go away as a crashed or cut-off broker does: it stops
// accepting connections, every connection open to it is closed, and kfake elects new
// leaders for all partitions among the brokers left (group coordinators move with them;
// the group state is the cluster's, as Kafka's is replicated). It does not come back.
func (b *KafkaBroker) TakeAway(node int32) error {
	if node < 0 || int(node) >= len(b.Addrs) {
		return fmt.Errorf("testenv: no broker %d (the cluster started with %d)", node, len(b.Addrs))
	}
	if err := b.Cluster.RemoveNode(node); err != nil {
		return fmt.Errorf("testenv: take broker %d (%s) away: %w", node, b.Addrs[node], err)
	}
	b.conns.closeAll(b.Addrs[node])
	return nil
}

// connRegistry tracks the connections each broker's listener accepted, so that
// TakeAway can cut them: kfake's RemoveNode only closes the listener.
type connRegistry struct {
	mu     sync.Mutex
	byAddr map[string]map[net.Conn]struct{}
	closed map[string]bool
}

func (r *connRegistry) listen(network, addr string) (net.Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return &trackedListener{Listener: ln, r: r, addr: ln.Addr().String()}, nil
}

func (r *connRegistry) add(addr string, c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed[addr] {
		return false
	}
	if r.byAddr[addr] == nil {
		r.byAddr[addr] = map[net.Conn]struct{}{}
	}
	r.byAddr[addr][c] = struct{}{}
	return true
}

func (r *connRegistry) closeAll(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed == nil {
		r.closed = map[string]bool{}
	}
	r.closed[addr] = true
	for c := range r.byAddr[addr] {
		_ = c.Close()
	}
	delete(r.byAddr, addr)
}

type trackedListener struct {
	net.Listener
	r    *connRegistry
	addr string
}

func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.r.add(l.addr, c) {
			return c, nil
		}
		_ = c.Close() // accepted as the broker was being taken away
	}
}

// BrokerProcess is the devbroker command running as a separate process with a
// data dir, for restart and crash tests: Stop, Kill and Start keep the ports and
// the data.
type BrokerProcess struct {
	Addr    string   // 127.0.0.1:port of the first broker
	Addrs   []string // every broker's 127.0.0.1:port
	DataDir string

	t testing.TB
	p *process
}

// StartBrokerProcess builds cmd/devbroker (once per test binary) and runs it on
// a free loopback port with its data in dataDir (a temp dir when ""). It seeds
// topic api-errors with 6 partitions, allows auto topic creation and session
// timeouts down to 500 ms. It is stopped at cleanup.
func StartBrokerProcess(t testing.TB, dataDir string) *BrokerProcess {
	t.Helper()
	return StartBrokerProcesses(t, dataDir, 1)
}

// StartBrokerProcesses is StartBrokerProcess with devbroker --brokers n: one process
// serving a cluster of n brokers on consecutive free loopback ports.
func StartBrokerProcesses(t testing.TB, dataDir string, n int) *BrokerProcess {
	t.Helper()
	bin, err := binary.devbroker()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	port, err := freePortRun(n)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var addrs []string
	for i := range n {
		addrs = append(addrs, hostPort(port+i))
	}
	bp := &BrokerProcess{
		Addr:    addrs[0],
		Addrs:   addrs,
		DataDir: dataDir,
		t:       t,
		p: &process{
			name: "devbroker",
			path: bin,
			args: []string{"--addr", hostPort(port), "--brokers", strconv.Itoa(n), "--data-dir", dataDir,
				"--topic", "api-errors", "--partitions", "6", "--group-min-session-timeout", "500ms"},
			logPath: filepath.Join(t.TempDir(), "devbroker-"+strconv.Itoa(port)+".log"),
		},
	}
	bp.Start()
	t.Cleanup(bp.Stop)
	return bp
}

// freePortRun returns the first of n consecutive loopback ports that were free a moment ago.
func freePortRun(n int) (int, error) {
	var last error
	for range 50 {
		first, err := freePort()
		if err != nil {
			return 0, err
		}
		if first+n-1 > 65535 {
			continue
		}
		var held []net.Listener
		ok := true
		for i := 1; i < n; i++ {
			l, err := net.Listen("tcp", hostPort(first+i))
			if err != nil {
				ok, last = false, err
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			_ = l.Close()
		}
		if ok {
			return first, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free loopback ports after 50 tries (last: %v)", n, last)
}

// Start starts the broker (again) on the same port and data dir and waits
// until the port accepts connections.
func (b *BrokerProcess) Start() {
	b.t.Helper()
	if err := b.p.start(); err != nil {
		b.t.Fatalf("testenv: %v", err)
	}
	for _, addr := range b.Addrs {
		if err := b.p.waitReady(30*time.Second, dialReady(addr)); err != nil {
			b.p.stop(syscall.SIGKILL, time.Second)
			b.t.Fatalf("testenv: %v", err)
		}
	}
}

// Stop stops the broker with SIGTERM (SIGKILL after 15 s) and waits for it.
func (b *BrokerProcess) Stop() { b.p.stop(syscall.SIGTERM, 15*time.Second) }

// Kill stops the broker with SIGKILL, as a crash would.
func (b *BrokerProcess) Kill() { b.p.stop(syscall.SIGKILL, 5*time.Second) }

func (b *binaryState) devbroker() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.devbDone {
		b.devbDone = true
		b.devb, b.devbErr = buildOnce("devbroker", "./cmd/devbroker", b)
	}
	return b.devb, b.devbErr
}

// buildOnce builds pkg into a temp dir removed by Main. b.mu must be held.
func buildOnce(name, pkg string, b *binaryState) (string, error) {
	dir, err := binaryTempDir(name)
	if err != nil {
		return "", fmt.Errorf("temp dir for %s: %w", name, err)
	}
	bin, err := buildTool(dir, pkg, name)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	b.atExit(func() { _ = os.RemoveAll(dir) })
	return bin, nil
}

// WriterTransport returns a kafka-go Transport of the test's own, its idle connections
// closed at cleanup. Test writers must not use kafka-go's shared default Transport: it
// caches topic metadata per broker address for the whole process, so a writer talking to
// a later broker on a reused port would route by the earlier broker's partition list.
func WriterTransport(t testing.TB) *kafka.Transport {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// ProduceBodies writes n well-formed bare bodies of the catalog type billing_not_verified to
// topic at addr, spread round-robin over its partitions; the i-th request_id ends in i.
func ProduceBodies(t testing.TB, addr, topic string, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll,
		Balancer: &kafka.RoundRobin{}, Transport: WriterTransport(t)}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: fmt.Appendf(nil, `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-%012d","error_type":"billing_not_verified"}`, i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("testenv: produce %d messages to %s at %s: %v", n, topic, addr, err)
	}
}
