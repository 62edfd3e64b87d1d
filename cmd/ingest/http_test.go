package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/config"
)

// /readyz answers from the last background check: a hundred probes cost one check.
func TestReadyzAnswersFromCache(t *testing.T) {
	var calls atomic.Int64
	var fail atomic.Bool
	r := newReadiness(func(context.Context) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("clickhouse: connection refused")
		}
		return nil
	})
	probe := func() (int, string) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := probe(); code != http.StatusServiceUnavailable || !strings.Contains(body, "not checked yet") {
		t.Fatalf("before the first check: %d %q", code, body)
	}
	r.refresh(context.Background())
	for range 100 {
		if code, body := probe(); code != http.StatusOK {
			t.Fatalf("after a good check: %d %q", code, body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d checks for 100 probes, want 1", n)
	}
	fail.Store(true)
	r.refresh(context.Background())
	if code, body := probe(); code != http.StatusServiceUnavailable || !strings.Contains(body, "connection refused") {
		t.Fatalf("after a failed check: %d %q", code, body)
	}
}

// Profiles are served only when metrics.pprof says so.
func TestPprofOnlyWhenConfigured(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	for _, tc := range []struct {
		pprof bool
		want  int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}} {
		mux := newMux(config.Metrics{Pprof: tc.pprof}, prometheus.NewRegistry(), ok)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
		if w.Code != tc.want {
			t.Errorf("pprof=%v: /debug/pprof/ answered %d, want %d", tc.pprof, w.Code, tc.want)
		}
	}
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Pprof {
		t.Fatal("metrics.pprof is on by default")
	}
}

// A client that opens a connection and sends its headers slowly is cut off.
func TestMetricsServerBoundsSlowClients(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler())
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s unset", name)
		}
	}
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	ts := httptest.NewUnstartedServer(srv.Handler)
	ts.Config = srv
	ts.Start()
	defer ts.Close()
	c, err := (&net.Dialer{}).Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept a connection with unfinished headers open for 20 s")
			}
			return // closed by the server
		}
	}
}
