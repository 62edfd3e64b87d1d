package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/schema"
)

const chdbSubpath = "node_modules/@chdb/lib-linux-x64-gnu/libchdb.so"

// CHDBSession is a chDB (ClickHouse 26.7 in-process) session shared by the
// whole test binary. It runs in a helper process (internal/testenv/chdbhelper)
// because chdb-go loads libchdb.so at package init and panics when it is
// missing, and because chDB allows one session per process. Queries are
// serialized. Use a database of your own per test (CREATE DATABASE ...).
type CHDBSession struct {
	LibPath string // the libchdb.so in use

	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Scanner
	p   *process
}

// CHDB returns the test binary's chDB session, starting it on first use.
// libchdb.so comes from CHDB_LIB_PATH, else .run/chdb (scripts/deps.sh), else
// /opt/chdb.
func CHDB(t testing.TB) *CHDBSession {
	t.Helper()
	s, err := binary.chdbSession()
	if err != nil {
		t.Fatalf("testenv: chDB: %v", err)
	}
	return s
}

// Exec runs a statement and discards its output.
func (s *CHDBSession) Exec(query string) error {
	_, err := s.Query(query, "CSV")
	return err
}

// Query runs query and returns its output in the given ClickHouse format
// (CSV, TSV, JSONEachRow, ...; "" means CSV).
func (s *CHDBSession) Query(query, format string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, err := json.Marshal(struct {
		Query  string `json:"query"`
		Format string `json:"format"`
	}{query, format})
	if err != nil {
		return "", fmt.Errorf("chdb: encode query: %w", err)
	}
	if _, err := s.in.Write(append(req, '\n')); err != nil {
		return "", fmt.Errorf("chdb: send query to helper: %w (log: %s)", err, s.p.logTail())
	}
	if !s.out.Scan() {
		return "", fmt.Errorf("chdb: helper died during query %q: %v; log:\n%s", query, s.out.Err(), s.p.logTail())
	}
	var resp struct {
		Data  string `json:"data"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(s.out.Bytes(), &resp); err != nil {
		return "", fmt.Errorf("chdb: decode helper answer: %w", err)
	}
	if resp.Error != "" {
		return "", fmt.Errorf("chdb: %s", resp.Error)
	}
	return resp.Data, nil
}

// chdbLibPath finds libchdb.so as documented on CHDB.
func chdbLibPath() (string, error) {
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		// An explicit path that is wrong is an error, not a reason to guess.
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", fmt.Errorf("CHDB_LIB_PATH=%s is not a file: %s", p, depsHint)
		}
		return p, nil
	}
	var cands []string
	if root, err := repoRoot(); err == nil {
		cands = append(cands, filepath.Join(root, ".run/chdb", chdbSubpath))
	}
	cands = append(cands, filepath.Join("/opt/chdb", chdbSubpath))
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("libchdb.so not found in %v: %s", cands, depsHint)
}

func (b *binaryState) chdbSession() (*CHDBSession, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.chdbDone {
		b.chdbDone = true
		b.chdb, b.chdbErr = b.startCHDB()
	}
	return b.chdb, b.chdbErr
}

func (b *binaryState) startCHDB() (*CHDBSession, error) {
	lib, err := chdbLibPath()
	if err != nil {
		return nil, err
	}
	bin, err := buildOnce("chdbhelper", "./internal/testenv/chdbhelper", b)
	if err != nil {
		return nil, err
	}
	dir, err := binaryTempDir("chdb")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	p := &process{
		name:    "chdbhelper",
		path:    bin,
		args:    []string{filepath.Join(dir, "session")},
		env:     []string{"CHDB_LIB_PATH=" + lib},
		logPath: filepath.Join(dir, "chdbhelper.log"),
	}
	// The helper talks over pipes, so it is started here rather than by
	// process.start (which sends stdout to the log).
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, fmt.Errorf("chdb helper log: %w", err)
	}
	cmd.Stderr = logf
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("chdb helper stdin: %w", err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("chdb helper stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start chdb helper: %w", err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	out := bufio.NewScanner(outPipe)
	out.Buffer(make([]byte, 1<<20), 256<<20)
	s := &CHDBSession{LibPath: lib, in: in, out: out, p: p}
	go func() {
		<-done
		logf.Close()
	}()
	// Wait is called once, after stdout is drained or at exit: see atExit.
	waitOnce := sync.OnceFunc(func() { _ = cmd.Wait(); close(done) })
	b.atExit(func() {
		in.Close() // EOF on stdin: the helper closes its session and exits
		exited := make(chan struct{})
		go func() { waitOnce(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = os.RemoveAll(dir)
	})
	if _, err := s.Query("SELECT 1", "CSV"); err != nil {
		_ = cmd.Process.Kill()
		go waitOnce()
		return nil, errors.Join(fmt.Errorf("chdb helper with %s does not answer", lib), err)
	}
	return s, nil
}

// Executor adapts the session to schema.Executor, so migrations run on ClickHouse 26.7 the
// same way they run on the server.
func (s *CHDBSession) Executor() schema.Executor { return chdbExecutor{s} }

type chdbExecutor struct{ s *CHDBSession }

func (e chdbExecutor) Exec(_ context.Context, sql string) error { return e.s.Exec(sql) }

func (e chdbExecutor) QueryUint64s(_ context.Context, sql string) ([]uint64, error) {
	out, err := e.s.Query(sql, "CSV")
	if err != nil {
		return nil, err
	}
	var vs []uint64
	for _, line := range strings.Fields(out) {
		v, err := strconv.ParseUint(strings.Trim(line, `"`), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("chdb: %q is not an unsigned integer", line)
		}
		vs = append(vs, v)
	}
	return vs, nil
}
