package doctor

import (
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// stack builds frames from function names, innermost first.
func stack(fns ...string) []Frame {
	out := make([]Frame, len(fns))
	for i, fn := range fns {
		out[i] = Frame{Function: fn, File: "/src/x.go", Line: 10 + i}
	}
	return out
}

// goroutineProfile builds a goroutine profile with one sample per stack.
func goroutineProfile(stacks [][]Frame, counts []int64) *profile.Profile {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "goroutine", Unit: "count"}}}
	funcs := map[string]*profile.Function{}
	for i, st := range stacks {
		s := &profile.Sample{Value: []int64{counts[i]}}
		for _, f := range st {
			fn := funcs[f.Function]
			if fn == nil {
				fn = &profile.Function{ID: uint64(len(funcs) + 1), Name: f.Function, Filename: f.File}
				funcs[f.Function] = fn
				p.Function = append(p.Function, fn)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn, Line: int64(f.Line)}}}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

var (
	chanLeak = stack("runtime.gopark", "runtime.chanrecv", "runtime.chanrecv1", "example.com/svc.worker", "example.com/svc.spawn.func1")
	lockWait = stack("runtime.gopark", "runtime.goparkunlock", "runtime.semacquire1", "internal/sync.runtime_SemacquireMutex",
		"internal/sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock", "example.com/svc.(*Pool).Get", "net/http.(*conn).serve")
	idleConn = stack("runtime.gopark", "runtime.netpollblock", "internal/poll.runtime_pollWait", "internal/poll.(*pollDesc).wait",
		"net.(*conn).Read", "net/http.(*conn).serve")
	busy      = stack("example.com/svc.hash", "example.com/svc.handle", "net/http.(*conn).serve")
	ownPprof  = stack("runtime.gopark", "time.Sleep", "net/http/pprof.sleep", "net/http/pprof.Profile", "net/http.(*conn).serve")
	poolIdle  = stack("runtime.gopark", "runtime.selectgo", "example.com/svc.poolWorker")
	poolBusy  = stack("runtime.gopark", "runtime.chanrecv", "runtime.chanrecv1", "example.com/svc.flush", "example.com/svc.poolWorker")
	sleepLeak = stack("runtime.gopark", "time.Sleep", "example.com/svc.retryForever")
)

func TestStateFromStack(t *testing.T) {
	tests := []struct {
		name  string
		stack []Frame
		want  string
		kind  string
	}{
		{"channel receive", chanLeak, "chan receive", KindChannel},
		{"mutex via internal/sync", lockWait, "sync.Mutex.Lock", KindLock},
		{"network read", idleConn, "IO wait", KindIO},
		{"running code", busy, "running", KindRunning},
		{"sleep", sleepLeak, "sleep", KindSleep},
		{"select", poolIdle, "select", KindSelect},
		{"empty select", stack("runtime.gopark", "runtime.block", "main.main"), "select (no cases)", KindSelect},
		{"waitgroup", stack("runtime.gopark", "runtime.semacquire1", "sync.runtime_SemacquireWaitGroup", "sync.(*WaitGroup).Wait", "main.main"), "sync.WaitGroup.Wait", KindLock},
		{"bare semaphore", stack("runtime.gopark", "runtime.goparkunlock", "runtime.semacquire1", "example.com/x.acquire"), "semacquire", KindLock},
		{"cond", stack("runtime.gopark", "runtime.goparkunlock", "sync.runtime_notifyListWait", "sync.(*Cond).Wait"), "sync.Cond.Wait", KindLock},
		{"unknown park", stack("runtime.gopark", "runtime.gcBgMarkWorker"), "parked", KindOther},
		{"empty stack", nil, "unknown", KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stateFromStack(tt.stack)
			if got != tt.want || kindOf(got) != tt.kind {
				t.Errorf("state = %q (kind %q), want %q (%q)", got, kindOf(got), tt.want, tt.kind)
			}
		})
	}
}

func TestKindOfRuntimeReasons(t *testing.T) {
	tests := []struct{ reason, kind string }{
		{"chan send (nil chan)", KindChannel},
		{"select", KindSelect},
		{"sync.RWMutex.RLock", KindLock},
		{"semacquire", KindLock},
		{"IO wait", KindIO},
		{"sleep", KindSleep},
		{"runnable", KindRunning},
		{"syscall", KindRunning},
		{"GC worker (idle)", KindOther},
		{"finalizer wait", KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			if got := kindOf(tt.reason); got != tt.kind {
				t.Errorf("kindOf(%q) = %q, want %q", tt.reason, got, tt.kind)
			}
		})
	}
}

func TestFuncPackage(t *testing.T) {
	tests := []struct {
		fn, pkg string
		std     bool
	}{
		{"net/http.(*conn).serve", "net/http", true},
		{"runtime.gopark", "runtime", true},
		{"main.main", "main", false},
		{"github.com/a/b.(*T).M.func1", "github.com/a/b", false},
		{"example.com/x/y.F[go.shape.string]", "example.com/x/y", false},
		{"myservice/db.Query", "myservice/db", false},
		{"vendor/golang.org/x/net/http2/hpack.(*Decoder).Write", "vendor/golang.org/x/net/http2/hpack", true},
		{"internal/sync.(*Mutex).Lock", "internal/sync", true},
		{"golang.org/x/sync/semaphore.(*Weighted).Acquire", "golang.org/x/sync/semaphore", false},
		{"racecall", "racecall", true},
		{"_ZN6__tsan18MemoryAccessRangeTILb0EEEvPNS_11ThreadStateEmmm", "_ZN6__tsan18MemoryAccessRangeTILb0EEEvPNS_11ThreadStateEmmm", true},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			if got := funcPackage(tt.fn); got != tt.pkg {
				t.Errorf("funcPackage = %q, want %q", got, tt.pkg)
			}
			if got := isStdFunc(tt.fn); got != tt.std {
				t.Errorf("isStdFunc = %v, want %v", got, tt.std)
			}
		})
	}
}

// dumpOf builds a debug=2 dump with the given goroutine IDs on a stack, as
// the traceback prints it (unexported runtime frames hidden).
func dumpOf(st []Frame, reason string, creator string, ids ...int64) []dumpGoroutine {
	var shown []Frame
	for _, f := range st {
		if !hiddenFrame(f.Function) {
			shown = append(shown, f)
		}
	}
	out := make([]dumpGoroutine, len(ids))
	for i, id := range ids {
		out[i] = dumpGoroutine{ID: id, Reason: reason, Stack: shown, CreatedBy: Frame{Function: creator}}
	}
	return out
}

func ids(from, n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = from + int64(i)
	}
	return out
}

func TestAnalyzeGoroutines(t *testing.T) {
	type snap struct {
		stacks [][]Frame
		counts []int64
		dump   []dumpGoroutine
	}
	type want struct {
		entry   string // user frame function of the group checked
		suspect bool
		growth  int64
		persist int64
	}
	tests := []struct {
		name          string
		before, after snap
		minGrowth     int64
		want          []want
		suspects      int
	}{
		{
			name:   "channel leak grows and persists: suspect, with its creator",
			before: snap{[][]Frame{chanLeak}, []int64{3}, dumpOf(chanLeak, "chan receive", "example.com/svc.spawn", ids(10, 3)...)},
			after:  snap{[][]Frame{chanLeak}, []int64{9}, dumpOf(chanLeak, "chan receive", "example.com/svc.spawn", ids(10, 9)...)},
			want:   []want{{"example.com/svc.worker", true, 6, 3}},
		},
		{
			name:   "handlers piling up on a lock: suspect",
			before: snap{[][]Frame{lockWait, idleConn}, []int64{2, 5}, append(dumpOf(lockWait, "sync.Mutex.Lock", "net/http.(*Server).Serve", 1, 2), dumpOf(idleConn, "IO wait", "net/http.(*Server).Serve", ids(20, 5)...)...)},
			after:  snap{[][]Frame{lockWait, idleConn}, []int64{40, 5}, append(dumpOf(lockWait, "sync.Mutex.Lock", "net/http.(*Server).Serve", ids(1, 40)...), dumpOf(idleConn, "IO wait", "net/http.(*Server).Serve", ids(20, 5)...)...)},
			want:   []want{{"example.com/svc.(*Pool).Get", true, 38, 2}},
		},
		{
			name:   "in-flight requests turn over: grew, but none persisted",
			before: snap{[][]Frame{lockWait}, []int64{2}, dumpOf(lockWait, "sync.Mutex.Lock", "net/http.(*Server).Serve", 1, 2)},
			after:  snap{[][]Frame{lockWait}, []int64{6}, dumpOf(lockWait, "sync.Mutex.Lock", "net/http.(*Server).Serve", ids(100, 6)...)},
			want:   []want{{"example.com/svc.(*Pool).Get", false, 4, 0}},
		},
		{
			name:   "fixed pool changing state: group grows, family does not",
			before: snap{[][]Frame{poolIdle, poolBusy}, []int64{8, 2}, append(dumpOf(poolIdle, "select", "main.main", ids(1, 8)...), dumpOf(poolBusy, "chan receive", "main.main", 9, 10)...)},
			after:  snap{[][]Frame{poolIdle, poolBusy}, []int64{2, 8}, append(dumpOf(poolIdle, "select", "main.main", 1, 2), dumpOf(poolBusy, "chan receive", "main.main", ids(3, 8)...)...)},
			want:   []want{{"example.com/svc.flush", false, 6, 2}},
		},
		{
			name:   "running goroutines are not leaks",
			before: snap{[][]Frame{busy}, []int64{1}, nil},
			after:  snap{[][]Frame{busy}, []int64{10}, nil},
			want:   []want{{"example.com/svc.hash", false, 9, -1}},
		},
		{
			name:   "without dumps a blocked growing group is a suspect on names alone",
			before: snap{[][]Frame{sleepLeak}, []int64{1}, nil},
			after:  snap{[][]Frame{sleepLeak}, []int64{4}, nil},
			want:   []want{{"example.com/svc.retryForever", true, 3, -1}},
		},
		{
			name:      "growth below MinGrowth is not a suspect",
			before:    snap{[][]Frame{sleepLeak}, []int64{1}, nil},
			after:     snap{[][]Frame{sleepLeak}, []int64{4}, nil},
			minGrowth: 5,
			want:      []want{{"example.com/svc.retryForever", false, 3, -1}},
		},
		{
			name:     "std-only stacks and the tool's own pprof requests are never suspects",
			before:   snap{[][]Frame{idleConn, ownPprof}, []int64{1, 0}, nil},
			after:    snap{[][]Frame{idleConn, ownPprof}, []int64{50, 3}, nil},
			suspects: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snapshot{prof: goroutineProfile(tt.before.stacks, tt.before.counts), dump: tt.before.dump}
			a := snapshot{prof: goroutineProfile(tt.after.stacks, tt.after.counts), dump: tt.after.dump}
			groups := analyzeGoroutines(b, a, tt.minGrowth)
			n := 0
			for _, g := range groups {
				if g.Suspect {
					n++
				}
				for _, s := range g.Stack {
					if strings.HasPrefix(s.Function, "net/http/pprof.") {
						t.Errorf("own pprof goroutines reported: %+v", g)
					}
				}
			}
			wantN := 0
			for _, w := range tt.want {
				if w.suspect {
					wantN++
				}
				var g *GoroutineGroup
				for i := range groups {
					if groups[i].UserFrame != nil && groups[i].UserFrame.Function == w.entry {
						g = &groups[i]
					}
				}
				if g == nil {
					t.Fatalf("no group with user frame %s in %+v", w.entry, groups)
				}
				if g.Suspect != w.suspect || g.Growth != w.growth || g.Persisted != w.persist {
					t.Errorf("group %s: suspect=%v growth=%d persisted=%d, want %v %d %d (state %q, family %+d)",
						w.entry, g.Suspect, g.Growth, g.Persisted, w.suspect, w.growth, w.persist, g.State, g.FamilyGrowth)
				}
				if w.suspect && g.CreatedBy == nil && tt.after.dump != nil {
					t.Errorf("suspect %s has no creation site", w.entry)
				}
			}
			if tt.want == nil {
				wantN = tt.suspects
			}
			if n != wantN {
				t.Errorf("%d suspects, want %d", n, wantN)
			}
			if n > 0 && !groups[0].Suspect {
				t.Errorf("suspects not sorted first: %+v", groups[0])
			}
		})
	}
}

func TestHiddenFrame(t *testing.T) {
	tests := []struct {
		fn     string
		hidden bool
	}{
		{"runtime.gopark", true},
		{"runtime.Gosched", false},
		{"runtime.(*Func).Name", false},
		{"runtime.(*timer).Stop", true},
		{"runtime.(*wakeableSleep).sleep", true},
		{"runtime.goexit", true},
		{"runtime/pprof.writeGoroutine", false},
		{"main.main", false},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			if got := hiddenFrame(tt.fn); got != tt.hidden {
				t.Errorf("hiddenFrame(%q) = %v, want %v", tt.fn, got, tt.hidden)
			}
		})
	}
}
