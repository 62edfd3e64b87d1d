//go:build unix

package event

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time of this process, so benchmarks
// can report events per CPU second: on the shared 2-core dev box wall-clock
// events/s swings with everyone else's load, CPU time much less.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
