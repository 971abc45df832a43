//go:build unix

package policy

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the user+system CPU time of the process so far. The
// benchmarks report it per operation ("cpu-ns/op") besides wall time: on a
// shared machine other processes stretch wall time, not this process's CPU
// time. It includes the GC's background work, which the middleware causes.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
