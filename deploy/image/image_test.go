// Package image_test builds the container image the way `make image` does and runs the
// ingester, the load generator and the query CLI from it against a real broker (kfake) and
// ClickHouse 18.16.
package image_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// podman runs podman on a private storage the test owns, so nothing it builds or runs is
// visible to (or left for) anyone else on the machine. vfs leaves no mounts behind.
type podman struct {
	t    *testing.T
	args []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman not found: run `make deps` (scripts/deps.sh installs podman, buildah and runc)")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatal("runc not found: run `make deps` (crun cannot start containers on this kind of host)")
	}
	// podman keeps a blob-info cache in /var/lib/containers/cache whatever --root says: when
	// this test is what creates it, the test removes it (only if still empty of anything else).
	const cacheDir = "/var/lib/containers/cache"
	var created []string
	for _, d := range []string{filepath.Dir(cacheDir), cacheDir, filepath.Join(cacheDir, "blob-info-cache-v1.boltdb")} {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			created = append(created, d)
		}
	}
	t.Cleanup(func() {
		for i := len(created) - 1; i >= 0; i-- {
			_ = os.Remove(created[i]) // a directory someone else filled is left alone
		}
	})
	dir := t.TempDir()
	return &podman{t: t, args: []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file",
	}}
}

// env passes the same private storage to scripts/image.sh.
func (p *podman) env() []string {
	return append(os.Environ(),
		"IMAGE_ROOT="+p.args[1], "IMAGE_RUNROOT="+p.args[3], "IMAGE_TMPDIR="+p.args[5], "IMAGE_STORAGE_DRIVER="+p.args[7])
}

func (p *podman) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "podman", append(append([]string{}, p.args...), args...)...)
	c.Env = p.env()
	return c
}

func (p *podman) run(ctx context.Context, args ...string) string {
	p.t.Helper()
	out, err := p.cmd(ctx, args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// containerArgs are what a container needs on this kind of host: runc (crun fails on hybrid
// cgroups), explicit ulimits (the default RLIMIT_NOFILE cannot be set here) and the host's
// network, where the test's broker and ClickHouse listen on loopback.
var containerArgs = []string{"--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096", "--network", "host"}

func TestImageRunsTheIngester(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	p := newPodman(t)
	root := testenv.RepoRoot(t)
	const image = "localhost/faultline:imagetest"

	build := exec.CommandContext(ctx, filepath.Join(root, "scripts", "image.sh"))
	build.Dir = root
	build.Env = append(p.env(), "IMAGE="+image)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/image.sh (make image): %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = p.cmd(context.Background(), "rmi", "--force", image).Run() })

	// What the image is: every command, the nonroot user, the CA bundle, the default command.
	inspect := p.run(ctx, "image", "inspect", "--format", "{{.Config.User}} {{.Config.Cmd}}", image)
	if got := strings.TrimSpace(inspect); got != "65532:65532 [ingest]" {
		t.Fatalf("image user and command %q, want 65532:65532 [ingest]", got)
	}
	for _, c := range [][]string{{"ingest", "-h"}, {"query", "-h"}, {"loadgen", "-h"}, {"faultline-gen"}, {"devbroker", "-h"}} {
		// faultline-gen and devbroker exit non-zero with their usage: what counts is that the
		// binary is there and runs, so the exit code is not checked, the output is.
		out, _ := p.cmd(ctx, append(append(append([]string{"run", "--rm"}, containerArgs...), image), c...)...).CombinedOutput()
		if !strings.Contains(strings.ToLower(string(out)), "usage") {
			t.Errorf("%v in the image printed no usage:\n%s", c, out)
		}
	}
	// The catalog is compiled in: the rules come out of the image with no file mounted.
	rules := p.run(ctx, append(append([]string{"run", "--rm"}, containerArgs...), image, "faultline-gen", "rules", "-out", "/dev/stdout")...)
	if !strings.Contains(rules, "billing_not_verified") {
		t.Fatalf("faultline-gen rules from the image lacks billing_not_verified:\n%.500s", rules)
	}

	b := testenv.Broker(t, "api-errors", 3)
	ch := testenv.ClickHouse(t)
	listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	name := fmt.Sprintf("faultline-imagetest-%d", time.Now().UnixNano())
	envArgs := []string{
		"-e", "FAULTLINE_KAFKA_BROKERS=" + b.Addr,
		"-e", "FAULTLINE_KAFKA_GROUP=imagetest",
		"-e", "FAULTLINE_KAFKA_SESSION_TIMEOUT=3s",
		"-e", "FAULTLINE_KAFKA_HEARTBEAT_INTERVAL=300ms",
		"-e", "FAULTLINE_CLICKHOUSE_ADDR=" + ch.Addr,
		"-e", "FAULTLINE_CLICKHOUSE_DATABASE=" + ch.Database,
		"-e", "FAULTLINE_METRICS_LISTEN=" + listen,
		"-e", "FAULTLINE_BATCH_MAX_AGE=100ms",
	}
	runArgs := append(append(append([]string{"run", "-d", "--name", name, "--read-only"}, containerArgs...), envArgs...), image)
	p.run(ctx, runArgs...)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := p.cmd(context.Background(), "logs", name).CombinedOutput()
			t.Logf("ingester container log:\n%s", logs)
		}
		_ = p.cmd(context.Background(), "rm", "--force", "--time", "5", name).Run()
	})

	waitHTTP(t, "http://"+listen+"/readyz", http.StatusOK)
	if code, body := get("http://" + listen + "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}

	const n = 500
	p.run(ctx, append(append(append([]string{"run", "--rm"}, containerArgs...), "-e", "FAULTLINE_KAFKA_BROKERS="+b.Addr), image,
		"loadgen", "--count", strconv.Itoa(n), "--seed", "7")...)

	deadline := time.Now().Add(60 * time.Second)
	var events, quarantined int64
	for {
		events = testenv.QueryInt(t, ch.Conn, "SELECT count() FROM events")
		quarantined = testenv.QueryInt(t, ch.Conn, "SELECT count() FROM quarantine")
		if events+quarantined >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if events+quarantined != n || events == 0 {
		t.Fatalf("stored %d events + %d quarantined, want %d messages in all with events among them", events, quarantined, n)
	}
	_, metrics := get("http://" + listen + "/metrics")
	if !strings.Contains(metrics, "faultline_rows_stored_total{table=\"events\"} "+strconv.FormatInt(events, 10)) {
		t.Errorf("/metrics does not count %d stored events", events)
	}

	// The query CLI from the same image reads what the ingester stored.
	var top bytes.Buffer
	q := p.cmd(ctx, append(append(append([]string{"run", "--rm"}, containerArgs...),
		"-e", "FAULTLINE_CLICKHOUSE_ADDR="+ch.Addr, "-e", "FAULTLINE_CLICKHOUSE_DATABASE="+ch.Database), image,
		"query", "top", "--since", "24h")...)
	q.Stdout, q.Stderr = &top, &top
	if err := q.Run(); err != nil {
		t.Fatalf("query top from the image: %v\n%s", err, top.String())
	}
	if !strings.Contains(top.String(), "error_type") && !strings.Contains(strings.ToLower(top.String()), "error type") {
		t.Errorf("query top output has no error type column:\n%s", top.String())
	}

	// SIGTERM: the ingester flushes, commits and leaves the group, exiting 0.
	p.run(ctx, "stop", "--time", "40", name)
	if code := strings.TrimSpace(p.run(ctx, "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		logs, _ := p.cmd(ctx, "logs", name).CombinedOutput()
		t.Fatalf("ingester exited %s after SIGTERM\n%s", code, logs)
	}
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitHTTP(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := get(url)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %d (%s), want %d", url, code, body, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
