package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Debian's zookeeper package (scripts/deps.sh installs it); run with java, no systemd.
const (
	zookeeperJar = "/usr/share/java/zookeeper.jar"
	slf4jJar     = "/usr/share/java/slf4j-simple.jar"
)

// ZooKeeper is a standalone ZooKeeper 3.8 server on a loopback port, the
// coordination service of a test cluster. It can be stopped, killed, paused and
// started again on the same port and data.
type ZooKeeper struct {
	Addr string // client port, 127.0.0.1:port
	Dir  string // data, config and log

	p *process
}

// newZooKeeper writes a zoo.cfg into dir for a free client port. tickTime 500 ms
// lets ClickHouse ask for a 3 s session (the allowed range is 2 to 20 ticks), so a
// paused ZooKeeper expires sessions within a test's patience.
func newZooKeeper(dir string) (*ZooKeeper, error) {
	for _, f := range []string{zookeeperJar, slf4jJar} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s not found: %s", f, depsHint)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", data, err)
	}
	cfg := filepath.Join(dir, "zoo.cfg")
	body := fmt.Sprintf(`tickTime=500
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,mntr,srvr
`, data, port)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		return nil, fmt.Errorf("write zoo.cfg: %w", err)
	}
	return &ZooKeeper{
		Addr: hostPort(port),
		Dir:  dir,
		p: &process{
			name: "zookeeper",
			path: "java",
			args: []string{"-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
				"-cp", zookeeperJar + ":" + slf4jJar,
				"org.apache.zookeeper.server.ZooKeeperServerMain", cfg},
			logPath: filepath.Join(dir, "zookeeper.log"),
		},
	}, nil
}

func (z *ZooKeeper) start() error {
	if err := z.p.start(); err != nil {
		return err
	}
	if err := z.p.waitReady(30*time.Second, z.serving); err != nil {
		z.p.stop(syscall.SIGKILL, time.Second)
		return err
	}
	return nil
}

// serving asks the four-letter word "srvr", which names the server's mode once it
// serves sessions. ("ruok" answers "imok" earlier, while sessions are still refused,
// and a clickhouse-server started then gives up its distributed DDL worker.)
func (z *ZooKeeper) serving(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", z.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("srvr")); err != nil {
		return err
	}
	answer, _ := io.ReadAll(c)
	if !strings.Contains(string(answer), "Mode: ") {
		return fmt.Errorf("srvr answered %q", strings.TrimSpace(string(answer)))
	}
	return nil
}

// Start starts ZooKeeper again on the same port and data, and waits until it serves.
func (z *ZooKeeper) Start(t testing.TB) {
	t.Helper()
	if err := z.start(); err != nil {
		t.Fatalf("testenv: restart zookeeper: %v", err)
	}
}

// Stop stops ZooKeeper with SIGTERM (SIGKILL after 10 s) and waits for it.
func (z *ZooKeeper) Stop() { z.p.stop(syscall.SIGTERM, 10*time.Second) }

// Kill stops ZooKeeper with SIGKILL, as a crash would.
func (z *ZooKeeper) Kill() { z.p.stop(syscall.SIGKILL, 5*time.Second) }

// Pause stops ZooKeeper with SIGSTOP: it keeps its connections and answers nothing,
// so sessions expire on the clients' side, until Continue.
func (z *ZooKeeper) Pause(t testing.TB) { t.Helper(); signalProcess(t, z.p, syscall.SIGSTOP) }

// Continue resumes a paused ZooKeeper with SIGCONT.
func (z *ZooKeeper) Continue(t testing.TB) { t.Helper(); signalProcess(t, z.p, syscall.SIGCONT) }

// signalProcess sends sig to the running process p.
func signalProcess(t testing.TB, p *process, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		t.Fatalf("testenv: %s is not running", p.name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testenv: signal %v to %s: %v", sig, p.name, err)
	}
}

// DeleteAll removes the nodes at paths, each with everything under it, through
// ZooKeeper's own command-line client (one JVM per path, about a second each). Tests use
// it to leave a server with state that only a fault makes, such as a part its replica shows
// but ZooKeeper does not list (a commit with an unknown outcome that did not happen).
func (z *ZooKeeper) DeleteAll(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "java", "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-cp", zookeeperJar+":"+slf4jJar, "org.apache.zookeeper.ZooKeeperMain", "-server", z.Addr, "deleteall", p).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("testenv: zookeeper deleteall %s: %v\n%s", p, err, out)
		}
	}
}
