//go:build unix

package fasthttpengine

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the process's user+system CPU time so far: benchmarks
// report it per operation ("cpu-ns/op"), which other processes on a shared
// machine stretch less than wall time. It includes the GC's background work.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
