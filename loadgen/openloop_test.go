package loadgen

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/pacer"
)

func mustConstant(t *testing.T, rate float64) pacer.Pacer {
	t.Helper()
	p, err := pacer.NewConstant(rate)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScheduleTake checks the open-loop ticket rule as a pure function of
// the ticket number and the time it is taken: when to sleep, when to stop,
// and which sends are late.
func TestScheduleTake(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	p := mustConstant(t, 1000) // ticket i due at i ms
	tests := []struct {
		name string
		s    schedule
		i    uint64
		now  time.Duration
		busy bool
		want ticket
	}{
		{"future: sleep until due", schedule{p: p}, 5, 2 * ms, true, ticket{due: 5 * ms, wait: 3 * ms}},
		{"due now: send", schedule{p: p}, 5, 5 * ms, true, ticket{due: 5 * ms}},
		{"due within minWait: send at once", schedule{p: p}, 5, 5*ms - minWait + 1, true, ticket{due: 5 * ms}},
		{"overdue by less than minWait: on time", schedule{p: p}, 5, 5*ms + minWait - 1, true, ticket{due: 5 * ms}},
		{"overdue when a busy worker takes it: late", schedule{p: p}, 5, 5*ms + minWait, true, ticket{due: 5 * ms, late: true}},
		{"far overdue: late", schedule{p: p}, 5, time.Second, true, ticket{due: 5 * ms, late: true}},
		{"a worker's first ticket is never late", schedule{p: p}, 5, time.Second, false, ticket{due: 5 * ms}},
		{"overdue in warm-up: not counted", schedule{p: p, warm: 10 * ms}, 5, time.Second, true, ticket{due: 5 * ms}},
		{"overdue after warm-up: late", schedule{p: p, warm: 5 * ms}, 5, time.Second, true, ticket{due: 5 * ms, late: true}},
		{"due at the end: stop", schedule{p: p, end: 5 * ms}, 5, 0, true, ticket{stop: true}},
		{"due before the end: send", schedule{p: p, end: 5*ms + 1}, 5, 5 * ms, true, ticket{due: 5 * ms}},
		{"after the end, overdue by less than the timeout: late, sent", schedule{p: p, end: 10 * ms, timeout: 20 * ms}, 5, 24 * ms, true, ticket{due: 5 * ms, late: true}},
		{"after the end, overdue by the timeout: expires", schedule{p: p, end: 10 * ms, timeout: 20 * ms}, 5, 25 * ms, true, ticket{due: 5 * ms, late: true, expired: true}},
		{"before the end, overdue by the timeout: still sent", schedule{p: p, end: time.Second, timeout: 20 * ms}, 5, 500 * ms, true, ticket{due: 5 * ms, late: true}},
		{"no time limit: never expires", schedule{p: p, stopAt: 10, timeout: 20 * ms}, 5, time.Hour, true, ticket{due: 5 * ms, late: true}},
		{"count reached: stop", schedule{p: p, stopAt: 5}, 5, 0, true, ticket{stop: true}},
		{"count not reached: sleep", schedule{p: p, stopAt: 6}, 5, 0, true, ticket{due: 5 * ms, wait: 5 * ms}},
		{"off the schedule: stop", schedule{p: pacer.Func(func(uint64) (time.Duration, bool) { return 0, false })}, 0, 0, true, ticket{stop: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.s.take(tt.i, tt.now, tt.busy); got != tt.want {
				t.Errorf("take(%d, %v, %v) = %+v, want %+v", tt.i, tt.now, tt.busy, got, tt.want)
			}
		})
	}
}

// TestNewScheduleCountLimit: -n counts measured requests, so the last
// ticket sent is the n-th one due at or after the warm-up.
func TestNewScheduleCountLimit(t *testing.T) {
	t.Parallel()
	p := mustConstant(t, 1000) // ticket i due at i ms
	tests := []struct {
		name      string
		warm      time.Duration
		limit     uint64
		wantFirst uint64 // first measured ticket
		wantStop  uint64
	}{
		{"no warm-up", 0, 100, 0, 100},
		{"warm-up on a due time", 10 * time.Millisecond, 100, 10, 110},
		{"warm-up between due times", 10*time.Millisecond + 1, 100, 11, 111},
		{"long warm-up", time.Hour, 1, 3_600_000, 3_600_001},
		{"no limit", 10 * time.Millisecond, 0, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := firstDueAt(p, tt.warm); got != tt.wantFirst {
				t.Errorf("firstDueAt(%v) = %d, want %d", tt.warm, got, tt.wantFirst)
			}
			if s := newSchedule(p, tt.warm, 0, 0, tt.limit); s.stopAt != tt.wantStop {
				t.Errorf("stopAt = %d, want %d", s.stopAt, tt.wantStop)
			}
		})
	}
}

// TestLateSends runs the rule end to end: one connection to a server that
// takes 2ms per response cannot keep 2000/s, so every ticket after the
// first is overdue when the connection frees up; sixteen connections at
// 200/s always have one free, so no send is late.
func TestLateSends(t *testing.T) {
	t.Parallel()
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Millisecond) })
	fast := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name             string
		c                Config
		wantMin, wantMax uint64
	}{
		{"one slow connection", Config{URL: slow.URL, Connections: 1, Rate: 2000, Requests: 200}, 199, 199},
		{"free connections", Config{URL: fast.URL, Connections: 16, Rate: 200, Requests: 50}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := mustRun(t, tt.c)
			if res.Requests != tt.c.Requests {
				t.Errorf("%d requests, want %d", res.Requests, tt.c.Requests)
			}
			if res.LateSends < tt.wantMin || res.LateSends > tt.wantMax {
				t.Errorf("late sends = %d, want %d..%d", res.LateSends, tt.wantMin, tt.wantMax)
			}
		})
	}
}

// BenchmarkScheduleTake is the per-send cost of the ticket rule (pacer
// included); it must not allocate.
func BenchmarkScheduleTake(b *testing.B) {
	p, err := pacer.NewConstant(20000)
	if err != nil {
		b.Fatal(err)
	}
	s := newSchedule(p, time.Second, time.Hour, 0, 0)
	b.ReportAllocs()
	var late int
	for i := 0; b.Loop(); i++ {
		if s.take(uint64(i), time.Duration(i)*40*time.Microsecond, true).late {
			late++
		}
	}
	_ = late
}

// TestOpenLoopRPSIsAchievedRate: an open loop that falls behind still sends
// every request due within -d, after the window; rps must report the rate
// achieved (about 500/s through one connection to a 2 ms server), not the
// 2000/s asked for.
func TestOpenLoopRPSIsAchievedRate(t *testing.T) {
	t.Parallel()
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Millisecond) })
	res := mustRun(t, Config{URL: slow.URL, Connections: 1, Rate: 2000, Duration: 200 * time.Millisecond})
	if res.LateSends == 0 {
		t.Fatalf("no late sends: the test needs a loop that falls behind")
	}
	if res.RPS > 600 {
		t.Errorf("rps = %.0f with %d late sends; one connection to a 2 ms server cannot exceed 500/s", res.RPS, res.LateSends)
	}
}

// TestOpenLoopTailBoundedByTimeout: against a server slower than the rate,
// the tickets due before the end of -d that no connection was free to send
// are not all sent after the end (which made a 1 s run last about
// 100 × 300 ms ÷ 2 = 15 s): those overdue by --timeout expire as timeout
// errors, the count stays exactly rate × duration, and the server sees only
// the requests sent before the end plus a short tail.
func TestOpenLoopTailBoundedByTimeout(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(300 * time.Millisecond)
	})
	res := mustRun(t, Config{URL: srv.URL, Rate: 100, Connections: 2, Duration: time.Second, Timeout: 500 * time.Millisecond})
	if res.Requests != 100 || res.Successes+res.Errors != res.Requests {
		t.Fatalf("requests %d = ok %d + errors %d, want 100", res.Requests, res.Successes, res.Errors)
	}
	// Before the end each connection sends about 1 s ÷ 300 ms = 3-4
	// requests; after it, at most until the tickets left are overdue by
	// the timeout (about 2 more each). Sending them all would be 100.
	if n := served.Load(); n > 30 {
		t.Errorf("server saw %d requests; the tail after the end must be bounded by the timeout", n)
	}
	if got := res.ErrorClasses[ClassTimeout]; got != res.Errors || got < 50 {
		t.Errorf("timeout errors %d, errors %d (classes %v): the expired tickets must count as timeouts", got, res.Errors, res.ErrorClasses)
	}
	if res.LateSends < res.Errors {
		t.Errorf("late sends %d < expired %d: an expired ticket was overdue when taken", res.LateSends, res.Errors)
	}
}
