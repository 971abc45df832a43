package bare

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
)

// ReportAllocs writes one line "allocs MALLOCS BYTES" to w each time sig
// arrives: the process's cumulative heap allocations since it started
// (runtime.MemStats.Mallocs and TotalAlloc), so that a parent can take
// allocations per request over a run from two lines, as it does from a
// server's go_memstats_alloc_bytes_total. Reading the statistics stops the
// world briefly; its own allocations (one line) are counted in the next one.
// A write error is dropped: the parent is gone. stop stops listening for sig
// and returns after the last line is written; it must be called once.
func ReportAllocs(w io.Writer, sig os.Signal) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-ch:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				_, _ = fmt.Fprintf(w, "allocs %d %d\n", ms.Mallocs, ms.TotalAlloc)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done); <-finished }
}
