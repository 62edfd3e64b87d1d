// Package testenv starts the real services faultline's tests run against:
// clickhouse-server 18.16 (alone, or as a ZooKeeper + 2 shards x 2 replicas cluster), a kfake Kafka broker (in-process or as the devbroker
// process), Prometheus and chDB (ClickHouse 26.7 as a library). Nothing is
// mocked. A missing service fails the test with a message naming `make deps`;
// it never skips.
//
// Servers shared by a whole test binary (the ClickHouse of ClickHouse, the cluster of ClickHouseCluster, the chDB
// helper, the built devbroker) are started lazily and stopped by Main, which a
// package using them should call from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Without Main they still die with the test binary (SIGKILL on parent death),
// but their temporary directories are only removed by the next run.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaryState holds what one test binary shares between its tests. It is test
// code: a single instance owned by the binary, torn down by Main.
type binaryState struct {
	mu          sync.Mutex
	ch          *Server // shared clickhouse-server (nil when FAULTLINE_TEST_CLICKHOUSE_ADDR is used)
	chErr       error
	chDone      bool
	devb        string // path of the built devbroker binary
	devbErr     error
	devbDone    bool
	chdb        *CHDBSession
	chdbErr     error
	chdbDone    bool
	clusterV    *Cluster // shared ZooKeeper + 2x2 clickhouse-server cluster
	clusterErr  error
	clusterDone bool
	cleanups    []func()
}

var binary = &binaryState{}

// Main runs the tests of m and then stops everything this package started for
// the whole test binary. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	binary.mu.Lock()
	cleanups := binary.cleanups
	binary.cleanups = nil
	binary.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(code)
}

func (b *binaryState) atExit(f func()) {
	b.cleanups = append(b.cleanups, f)
}

// depsHint is appended to every "service missing" failure.
const depsHint = "run `make deps` (installs clickhouse-server, prometheus, kcat and chDB)"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen on 127.0.0.1:0: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot returns the directory of faultline's go.mod, found by walking up
// from the working directory (go test runs in the package directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/faultline/faultline\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/faultline/faultline above the working directory")
		}
		dir = parent
	}
}

// goTool returns the go command that is running these tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// buildTool builds the package pkg (relative to the repo root) into dir.
func buildTool(dir, pkg, name string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(goTool(), "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// process is a service process with a log file, restartable with the same
// arguments (same ports, same data directory).
type process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log of %s: %w", p.name, err)
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), p.env...)
	// Own process group, and SIGKILL when the test binary dies without cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s (%s): %w", p.name, p.path, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // reaps the child: no zombies left behind
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// exited reports whether the current process has exited.
func (p *process) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the exit, then SIGKILLs.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	<-done
}

func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls ready every 100 ms until it returns nil, the process exits,
// or timeout passes.
func (p *process) waitReady(timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited during startup; log %s:\n%s", p.name, p.logPath, p.logTail())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = ready(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s (last: %v); log %s:\n%s", p.name, timeout, last, p.logPath, p.logTail())
}

func dialReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// removeStale deletes leftovers named prefix<pid>-* in the temp dir whose test
// binary is gone (it ran without Main, or was killed).
func removeStale(prefix string) {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), prefix)
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); errors.Is(err, os.ErrNotExist) {
			_ = os.RemoveAll(m)
		}
	}
}

// binaryTempDir makes a temp dir for state shared by this test binary.
func binaryTempDir(what string) (string, error) {
	prefix := "faultline-testenv-" + what + "-"
	removeStale(prefix)
	return os.MkdirTemp("", prefix+strconv.Itoa(os.Getpid())+"-")
}
