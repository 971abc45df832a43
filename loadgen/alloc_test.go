package loadgen

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunAllocationsDoNotGrowWithRequests is the bounded-memory promise at
// the runner level: a run of 20,000 requests allocates no more than a run
// of 2,000 (plus a small constant), in closed and open loop. The transport
// is a no-op so that only the runner, pacer and histograms are measured.
func TestRunAllocationsDoNotGrowWithRequests(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	mallocs := func(c Config) uint64 {
		var clock atomic.Int64
		c.Transport = fakeTransport{&fakeClient{clock: &clock, cost: func(int) time.Duration { return time.Microsecond }}}
		c.URL, c.Connections = "http://fake", 1
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := Run(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.Mallocs - before.Mallocs
	}
	for _, tt := range []struct {
		name string
		c    Config
	}{
		{"closed loop", Config{}},
		{"open loop", Config{Rate: 1e6}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			small, large := tt.c, tt.c
			small.Requests, large.Requests = 2000, 20000
			mallocs(small) // warm up lazily initialised state
			s, l := mallocs(small), mallocs(large)
			t.Logf("2,000 requests: %d allocations; 20,000: %d", s, l)
			if l > s+200 {
				t.Fatalf("2,000 requests: %d allocations; 20,000 requests: %d", s, l)
			}
		})
	}
}
