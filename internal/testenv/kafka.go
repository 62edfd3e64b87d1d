package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaBroker is an in-process kfake Kafka cluster of one broker on a random
// loopback port, closed at cleanup.
type KafkaBroker struct {
	Addr    string         // host:port for Kafka clients
	Cluster *kfake.Cluster // for kfake's fault hooks (ControlKey, etc.)
}

// Broker starts an in-process kfake broker with topic seeded to partitions
// (no topic when topic is ""). It allows auto topic creation and session
// timeouts down to 500 ms so group tests are fast. extra options come last, for example
// kfake.EnableSASL(), kfake.Superuser(...) and kfake.TLS(...) for a secured broker.
func Broker(t testing.TB, topic string, partitions int, extra ...kfake.Opt) *KafkaBroker {
	t.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
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
	return &KafkaBroker{Addr: c.ListenAddrs()[0], Cluster: c}
}

// BrokerProcess is the devbroker command running as a separate process with a
// data dir, for restart and crash tests: Stop, Kill and Start keep the port and
// the data.
type BrokerProcess struct {
	Addr    string // 127.0.0.1:port
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
	bin, err := binary.devbroker()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	bp := &BrokerProcess{
		Addr:    hostPort(port),
		DataDir: dataDir,
		t:       t,
		p: &process{
			name: "devbroker",
			path: bin,
			args: []string{"--addr", hostPort(port), "--data-dir", dataDir,
				"--topic", "api-errors", "--partitions", "6", "--group-min-session-timeout", "500ms"},
			logPath: filepath.Join(t.TempDir(), "devbroker-"+strconv.Itoa(port)+".log"),
		},
	}
	bp.Start()
	t.Cleanup(bp.Stop)
	return bp
}

// Start starts the broker (again) on the same port and data dir and waits
// until the port accepts connections.
func (b *BrokerProcess) Start() {
	b.t.Helper()
	if err := b.p.start(); err != nil {
		b.t.Fatalf("testenv: %v", err)
	}
	if err := b.p.waitReady(30*time.Second, dialReady(b.Addr)); err != nil {
		b.p.stop(syscall.SIGKILL, time.Second)
		b.t.Fatalf("testenv: %v", err)
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
