package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/pipeline"
)

// How /readyz is answered: from a check run in the background every readyInterval (each
// bounded by readyTimeout), so that probes and scrapers cost ClickHouse and Kafka nothing.
const (
	readyInterval = 2 * time.Second
	readyTimeout  = 5 * time.Second
)

// readiness caches the result of the ingester's readiness check.
type readiness struct {
	check func(context.Context) error

	mu      sync.Mutex
	err     error
	checked time.Time
}

func newReadiness(check func(context.Context) error) *readiness {
	return &readiness{check: check, err: errors.New("not checked yet")}
}

// run checks every interval until ctx ends.
func (r *readiness) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *readiness) refresh(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, readyTimeout)
	err := r.check(cctx)
	cancel()
	r.mu.Lock()
	r.err, r.checked = err, time.Now()
	r.mu.Unlock()
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	err, at := r.err, r.checked
	r.mu.Unlock()
	age := "never"
	if !at.IsZero() {
		age = time.Since(at).Round(time.Millisecond).String() + " ago"
	}
	if err != nil {
		http.Error(w, "not ready: "+err.Error()+" (checked "+age+")", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ready (checked %s)\n", age)
}

// newMux routes /metrics, /healthz, /readyz, and /debug/pprof/ only when the config asks.
func newMux(cfg config.Metrics, reg *prometheus.Registry, ready http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/readyz", ready)
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// newHTTPServer bounds every phase of a request, so that slow or stuck clients cannot hold
// connections open. The write timeout leaves room for a 30 s CPU profile.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// serve starts the metrics listener; the readiness checks run until ctx ends.
func serve(ctx context.Context, cfg config.Metrics, reg *prometheus.Registry, in *pipeline.Ingester, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", cfg.Listen, err)
	}
	ready := newReadiness(in.Ready)
	go ready.run(ctx, readyInterval)
	srv := newHTTPServer(newMux(cfg, reg, ready))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	log.Info("serving /metrics, /healthz, /readyz", "addr", ln.Addr().String(), "pprof", cfg.Pprof)
	return srv, nil
}
