package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

const clickhouseServerBin = "/usr/sbin/clickhouse-server"

// CH is a fresh, empty ClickHouse database on the test binary's shared
// clickhouse-server, dropped when the test ends.
type CH struct {
	Addr     string      // native protocol, host:port
	HTTPAddr string      // HTTP interface, host:port
	Database string      // random name, created for this test
	Conn     driver.Conn // clickhouse-go v2 native connection using Database
}

// ClickHouse returns a fresh database on the test binary's clickhouse-server.
// With FAULTLINE_TEST_CLICKHOUSE_ADDR set (native host:port; HTTP from
// FAULTLINE_TEST_CLICKHOUSE_HTTP) that server is used; otherwise one
// clickhouse-server 18.16 is started for the whole test binary on free ports
// and stopped by Main.
func ClickHouse(t testing.TB) *CH {
	t.Helper()
	addr, httpAddr := os.Getenv("FAULTLINE_TEST_CLICKHOUSE_ADDR"), os.Getenv("FAULTLINE_TEST_CLICKHOUSE_HTTP")
	if addr == "" {
		srv, err := binary.clickhouse()
		if err != nil {
			t.Fatalf("testenv: clickhouse-server: %v", err)
		}
		addr, httpAddr = srv.Addr, srv.HTTPAddr
	}

	admin, err := openCH(addr, "default")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer admin.Close()
	db := "test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// db is generated here from hex digits, so building the statement is safe.
	if err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatalf("testenv: create database %s on %s: %v", db, addr, err)
	}
	conn, err := openCH(addr, db)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		a, err := openCH(addr, "default")
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", db, err)
			return
		}
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A drop can wait on a table lock that a test's subprocess still holds for a moment.
		// The database is scratch (test_<random>; the server this binary starts is deleted at
		// exit), so a drop that does not happen is noted, not a failure of the test.
		if err := a.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Logf("testenv: drop database %s on %s: %v (left for the server's removal at exit)", db, addr, err)
		}
	})
	return &CH{Addr: addr, HTTPAddr: httpAddr, Database: db, Conn: conn}
}

// openCH opens and pings a native connection as user default.
func openCH(addr, database string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: database, Username: "default"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s/%s: %w", addr, database, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s/%s: %w", addr, database, err)
	}
	return conn, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (b *binaryState) clickhouse() (*Server, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.chDone {
		b.chDone = true
		b.ch, b.chErr = b.startSharedClickHouse()
	}
	return b.ch, b.chErr
}

func (b *binaryState) startSharedClickHouse() (*Server, error) {
	dir, err := binaryTempDir("clickhouse")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	var srv *Server
	// A free port can be taken between choosing it and the server binding it.
	for attempt := 0; ; attempt++ {
		srv, err = newServer(dir)
		if err == nil {
			err = srv.start()
		}
		if err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	b.atExit(func() {
		srv.p.stop(syscall.SIGTERM, 15*time.Second)
		_ = os.RemoveAll(dir)
	})
	return srv, nil
}

// Server is a clickhouse-server 18.16 process of its own, for fault tests:
// it can be stopped, killed and started again on the same ports and data.
type Server struct {
	Addr     string // native protocol, 127.0.0.1:port
	HTTPAddr string // HTTP interface, 127.0.0.1:port
	Dir      string // data, config and logs

	t testing.TB
	p *process
}

// StartClickHouseServer starts a dedicated clickhouse-server on free loopback
// ports with its data in a temp dir; it is stopped at cleanup. Connect as user
// default (writer) or faultline_ro (read-only), both without password.
func StartClickHouseServer(t testing.TB) *Server {
	t.Helper()
	srv, err := newServer(t.TempDir())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	srv.t = t
	if err := srv.start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { srv.p.stop(syscall.SIGTERM, 15*time.Second) })
	return srv
}

// newServer renders deploy/clickhouse into dir on fresh free ports.
func newServer(dir string) (*Server, error) {
	if _, err := os.Stat(clickhouseServerBin); err != nil {
		return nil, fmt.Errorf("%s not found: %s", clickhouseServerBin, depsHint)
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(root, "deploy/clickhouse/config.xml.tmpl"))
	if err != nil {
		return nil, fmt.Errorf("read clickhouse config template: %w", err)
	}
	users, err := os.ReadFile(filepath.Join(root, "deploy/clickhouse/users.xml"))
	if err != nil {
		return nil, fmt.Errorf("read clickhouse users: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "log"), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	cfg := filepath.Join(dir, "config.xml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(tmpl), "@DATA_DIR@", dir)), 0o644); err != nil {
		return nil, fmt.Errorf("write clickhouse config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), users, 0o644); err != nil {
		return nil, fmt.Errorf("write clickhouse users: %w", err)
	}
	tcp, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	return &Server{
		Addr:     hostPort(tcp),
		HTTPAddr: hostPort(httpPort),
		Dir:      dir,
		p: &process{
			name: "clickhouse-server",
			path: clickhouseServerBin,
			args: []string{"--config-file=" + cfg, "--",
				"--tcp_port=" + strconv.Itoa(tcp), "--http_port=" + strconv.Itoa(httpPort)},
			logPath: filepath.Join(dir, "log", "stdout.log"),
		},
	}, nil
}

func (s *Server) start() error {
	if err := s.p.start(); err != nil {
		return err
	}
	err := s.p.waitReady(60*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr+"/ping", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "Ok." {
			return fmt.Errorf("ping: %s %q", resp.Status, body)
		}
		// HTTP can answer before the native port is bound.
		return dialReady(s.Addr)(ctx)
	})
	if err != nil {
		s.p.stop(syscall.SIGKILL, time.Second)
		if b, rerr := os.ReadFile(filepath.Join(s.Dir, "log", "clickhouse-server.err.log")); rerr == nil {
			err = fmt.Errorf("%w\nerror log:\n%s", err, lastLines(string(b), 20))
		}
		return err
	}
	return nil
}

// Start starts the server again on the same ports and data dir, and waits
// until it answers.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("testenv: restart clickhouse-server: %v", err)
	}
}

// Stop stops the server with SIGTERM (SIGKILL after 15 s) and waits for it.
func (s *Server) Stop() { s.p.stop(syscall.SIGTERM, 15*time.Second) }

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() { s.p.stop(syscall.SIGKILL, 5*time.Second) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Pause stops the server process with SIGSTOP: it holds its connections and answers
// nothing, as a hung server does, until Continue.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Continue resumes a paused server with SIGCONT.
func (s *Server) Continue() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.p.mu.Lock()
	cmd := s.p.cmd
	s.p.mu.Unlock()
	if cmd == nil {
		s.t.Fatalf("testenv: clickhouse-server is not running")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("testenv: signal %v to clickhouse-server: %v", sig, err)
	}
}
