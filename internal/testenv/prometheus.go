package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const prometheusBin = "/usr/bin/prometheus"

// Prom is a Prometheus server started for one test.
type Prom struct {
	URL        string // http://127.0.0.1:port
	ConfigPath string // the config file; POST URL+"/-/reload" after changing it
}

// Prometheus runs Prometheus with configYAML on a free loopback port and a
// temp storage dir (lifecycle API enabled), waits until /-/ready answers, and
// stops it at cleanup.
func Prometheus(t testing.TB, configYAML string) *Prom {
	t.Helper()
	if _, err := os.Stat(prometheusBin); err != nil {
		t.Fatalf("testenv: %s not found: %s", prometheusBin, depsHint)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(configYAML), 0o644); err != nil {
		t.Fatalf("testenv: write prometheus config: %v", err)
	}
	port := FreePort(t)
	addr := hostPort(port)
	p := &process{
		name: "prometheus",
		path: prometheusBin,
		args: []string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--web.enable-lifecycle",
		},
		logPath: filepath.Join(dir, "prometheus-"+strconv.Itoa(port)+".log"),
	}
	if err := p.start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { p.stop(syscall.SIGTERM, 15*time.Second) })
	url := "http://" + addr
	err := p.waitReady(60*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/-/ready", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return &Prom{URL: url, ConfigPath: cfg}
}
