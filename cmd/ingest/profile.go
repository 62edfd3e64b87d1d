package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// withCPUProfile runs f with a CPU profile (runtime/pprof) written to path; "" runs f alone.
// make bench profiles the drain it measures this way, so that its figures come with what holds
// them back (go tool pprof -top); a live ingester has /debug/pprof/ (metrics.pprof) instead.
func withCPUProfile(path string, f func() error) (err error) {
	if path == "" {
		return f()
	}
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(file); err != nil {
		file.Close()
		return fmt.Errorf("--cpu-profile %s: %w", path, err)
	}
	defer func() {
		pprof.StopCPUProfile()
		if cerr := file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("--cpu-profile %s: %w", path, cerr)
		}
	}()
	return f()
}
