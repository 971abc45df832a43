package doctor_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/doctor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// target is an in-process service with net/http/pprof and handlers that
// misbehave on purpose. The test process is the profiled process, so the
// scenario tests must not run in parallel.
type target struct {
	srv     *httptest.Server
	release chan struct{}  // closing it ends every leaked goroutine
	pool    sync.Mutex     // held for the whole test: the "DB pool" ran dry
	hot     sync.Mutex     // briefly held by every /contend request
	never   sync.WaitGroup // one Add at start, Done at the end of the test
	counter uint64
}

// contend holds a shared lock while burning a little CPU, so concurrent
// requests queue on it.
func (tg *target) contend() {
	tg.hot.Lock()
	tg.counter += cpuBurner(100_000)
	tg.hot.Unlock()
}

// sink keeps allocations reachable so the compiler cannot drop them.
var sink atomic.Pointer[[]byte]

func newTarget(t *testing.T) *target { return newTargetWith(t, nil) }

// newTargetWith is newTarget with the pprof handlers wrapped by wrap, to
// simulate targets that lack some endpoints.
func newTargetWith(t *testing.T, wrap func(http.Handler) http.Handler) *target {
	t.Helper()
	tg := &target{release: make(chan struct{})}
	tg.pool.Lock()
	tg.never.Add(1)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/leak-chan", tg.leakChanHandler)
	mux.HandleFunc("/leak-lock", tg.poolHandler)
	mux.HandleFunc("/leak-wait", func(w http.ResponseWriter, _ *http.Request) {
		go semaphoreWaiter(&tg.never)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/burn", func(w http.ResponseWriter, _ *http.Request) {
		if cpuBurner(2_000_000) == 42 {
			io.WriteString(w, "lucky")
		}
	})
	mux.HandleFunc("/alloc", func(w http.ResponseWriter, _ *http.Request) { allocHeavy() })
	mux.HandleFunc("/contend", func(w http.ResponseWriter, _ *http.Request) { tg.contend() })
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	tg.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		close(tg.release)
		tg.pool.Unlock()
		tg.never.Done()
		tg.srv.Close()
	})
	return tg
}

// leakChanHandler leaks one goroutine per request, blocked receiving from a
// channel nobody sends on (until the test ends).
func (tg *target) leakChanHandler(w http.ResponseWriter, _ *http.Request) {
	go leakChanWorker(tg.release)
	io.WriteString(w, "ok")
}

func leakChanWorker(release <-chan struct{}) { <-release }

// semaphoreWaiter waits on a semaphore (a WaitGroup, runtime semacquire)
// that is only released when the test ends.
func semaphoreWaiter(wg *sync.WaitGroup) { wg.Wait() }

// poolHandler waits for a lock that is never released while the test runs,
// like requests piling up in semacquire when a connection pool runs dry.
func (tg *target) poolHandler(w http.ResponseWriter, _ *http.Request) {
	tg.pool.Lock()
	defer tg.pool.Unlock()
	io.WriteString(w, "ok")
}

//go:noinline
func cpuBurner(n int) uint64 {
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

//go:noinline
func allocHeavy() {
	for range 16 {
		b := make([]byte, 32<<10)
		sink.Store(&b)
	}
}

// load runs workers goroutines that GET url in a loop, pausing pause
// between requests, each request bounded by reqTimeout. It waits until at
// least minDone requests were sent, and returns a function that stops the
// load and waits for the workers.
func load(t *testing.T, url string, workers int, pause, reqTimeout time.Duration, minDone int64) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// One client per worker: a shared Transport's pool lock would itself
	// show up in the mutex profile of this (the profiled) process.
	clients := make([]*http.Client, workers)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{}}
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	for _, client := range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				rctx, rcancel := context.WithTimeout(ctx, reqTimeout)
				req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
				if resp, err := client.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				rcancel()
				sent.Add(1)
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	for sent.Load() < minDone {
		time.Sleep(5 * time.Millisecond)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			for _, c := range clients {
				c.CloseIdleConnections()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func run(t *testing.T, tg *target) *doctor.Report {
	t.Helper()
	rep, err := doctor.Run(context.Background(), doctor.Config{
		Admin:    tg.srv.URL,
		CPU:      time.Second,
		Interval: 2 * time.Second,
		OutDir:   t.TempDir(),
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func TestLeakSuspects(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		reqTO     time.Duration
		wantFunc  string // suffix of the top suspect's user frame
		wantKind  string
		wantMaker string // substring of the creation site
	}{
		{"goroutine per request blocked on a channel", "/leak-chan", 2 * time.Second,
			"doctor_test.leakChanWorker", doctor.KindChannel, "leakChanHandler"},
		{"handlers stuck on a lock never released", "/leak-lock", 50 * time.Millisecond,
			"doctor_test.(*target).poolHandler", doctor.KindLock, "net/http.(*Server).Serve"},
		{"goroutine per request waiting on a semaphore never released", "/leak-wait", 2 * time.Second,
			"doctor_test.semaphoreWaiter", doctor.KindLock, "doctor_test.newTarget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			stop := load(t, tg.srv.URL+tt.path, 2, 10*time.Millisecond, tt.reqTO, 5)
			rep := run(t, tg)
			stop()
			if testing.Verbose() {
				doctor.WriteText(t.Output(), rep)
			}
			g := rep.Goroutines
			if len(g.Suspects) == 0 {
				t.Fatalf("no leak suspect; groups: %+v", g.Groups)
			}
			top := g.Suspects[0]
			if top.UserFrame == nil || !strings.HasSuffix(top.UserFrame.Function, tt.wantFunc) {
				t.Errorf("top suspect user frame = %+v, want …%s", top.UserFrame, tt.wantFunc)
			}
			if top.Kind != tt.wantKind || !top.Blocking {
				t.Errorf("top suspect kind = %q blocking=%v (state %q), want %q", top.Kind, top.Blocking, top.State, tt.wantKind)
			}
			if top.Growth < 5 || top.Growth != top.After-top.Before {
				t.Errorf("top suspect growth = %d (%d → %d), want ≥ 5 and consistent", top.Growth, top.Before, top.After)
			}
			if top.Persisted < 1 || top.Persisted > top.After {
				t.Errorf("persisted = %d, want 1..%d", top.Persisted, top.After)
			}
			if top.CreatedBy == nil || !strings.Contains(top.CreatedBy.Function, tt.wantMaker) {
				t.Errorf("created by = %+v, want %s", top.CreatedBy, tt.wantMaker)
			}
			if !strings.Contains(rep.Verdict, "leak suspect") || !strings.Contains(rep.Verdict, shortName(tt.wantFunc)) {
				t.Errorf("verdict does not name the suspect: %q", rep.Verdict)
			}
		})
	}
}

func shortName(s string) string { return s[strings.LastIndexByte(s, '.')+1:] }

func TestCleanServerHasNoSuspect(t *testing.T) {
	tg := newTarget(t)
	stop := load(t, tg.srv.URL+"/ok", 2, 5*time.Millisecond, 2*time.Second, 5)
	rep := run(t, tg)
	stop()
	if n := len(rep.Goroutines.Suspects); n != 0 {
		t.Fatalf("clean server: %d suspects, first %+v", n, rep.Goroutines.Suspects[0])
	}
	if !strings.HasPrefix(rep.Verdict, "No goroutine leak suspect") {
		t.Errorf("verdict = %q", rep.Verdict)
	}
	if !rep.Goroutines.Dumps || rep.Goroutines.Before == 0 || len(rep.Goroutines.Groups) == 0 {
		t.Errorf("goroutine report incomplete: %+v", rep.Goroutines)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %q", rep.Warnings)
	}
	if rep.Mutex == nil || rep.Mutex.Status != doctor.ContentionDisabled {
		t.Errorf("mutex = %+v, want status disabled (fraction 0 in tests)", rep.Mutex)
	}
	if rep.Runtime == nil || rep.Runtime.Goroutines == 0 || rep.Runtime.HeapInuse == 0 {
		t.Fatalf("runtime figures missing: %+v", rep.Runtime)
	}
	// The target serves Prometheus beside pprof: RSS and process CPU come
	// from there, and the report says so.
	rt := rep.Runtime
	if rt.RSSBytes == 0 || rt.ProcessCores <= 0 || !strings.HasSuffix(strings.Fields(rt.Sources["rss_bytes"])[0], "/metrics") {
		t.Errorf("process figures: rss %d, cores %v, sources %v", rt.RSSBytes, rt.ProcessCores, rt.Sources)
	}
}

func TestHotFunctions(t *testing.T) {
	tests := []struct {
		name string
		path string
		top  func(*doctor.Report) []doctor.FuncStat
		want string
	}{
		{"CPU-burning handler among top 3 CPU functions", "/burn",
			func(r *doctor.Report) []doctor.FuncStat {
				if r.CPU == nil {
					return nil
				}
				return r.CPU.Flat
			}, "doctor_test.cpuBurner"},
		{"allocation-heavy handler among top 3 allocation sites", "/alloc",
			func(r *doctor.Report) []doctor.FuncStat {
				if r.Alloc == nil {
					return nil
				}
				return r.Alloc.AllocSpace
			}, "doctor_test.allocHeavy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			stop := load(t, tg.srv.URL+tt.path, 2, 0, 2*time.Second, 5)
			rep := run(t, tg)
			stop()
			top := tt.top(rep)
			if tt.path == "/burn" && (rep.CPU == nil || len(rep.CPU.UserFlat) == 0 ||
				!strings.HasSuffix(rep.CPU.UserFlat[0].Function, tt.want)) {
				t.Errorf("%s is not the top user-code function: %+v", tt.want, rep.CPU)
			}
			for i, f := range top[:min(3, len(top))] {
				if strings.HasSuffix(f.Function, tt.want) {
					if f.FlatPct <= 0 || f.Flat <= 0 {
						t.Errorf("%s at rank %d with no share: %+v", tt.want, i+1, f)
					}
					return
				}
			}
			t.Errorf("%s not in top 3: %+v (warnings %q)", tt.want, top, rep.Warnings)
		})
	}
}

// TestInterruptReturnsWhatWasGathered cancels the run during the capture
// window, as the first Ctrl-C does: Run must still compare the goroutine
// snapshots and return a report marked interrupted.
func TestInterruptReturnsWhatWasGathered(t *testing.T) {
	tg := newTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var rep *doctor.Report
	var err error
	go func() {
		defer close(done)
		rep, err = doctor.Run(ctx, doctor.Config{Admin: tg.srv.URL, CPU: 30 * time.Second, Interval: 60 * time.Second})
	}()
	// Cancel once the first snapshot is in: the CPU profile is then running.
	for !cpuProfileRunning(t, tg) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !rep.Interrupted || !strings.Contains(rep.Verdict, "interrupted") {
		t.Errorf("interrupted = %v, verdict %q", rep.Interrupted, rep.Verdict)
	}
	if rep.Goroutines.After == 0 || rep.Runtime == nil {
		t.Errorf("second snapshot missing after interrupt: %+v", rep.Goroutines)
	}
	if rep.CPU != nil {
		t.Errorf("cancelled CPU profile reported: %+v", rep.CPU)
	}
}

// cpuProfileRunning reports whether the target is serving a CPU profile
// request, by looking for pprof.Profile in its goroutine dump.
func cpuProfileRunning(t *testing.T, tg *target) bool {
	t.Helper()
	resp, err := http.Get(tg.srv.URL + "/debug/pprof/goroutine?debug=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), "net/http/pprof.Profile(")
}

// TestMutexContention turns the mutex profile on (process-wide, restored at
// the end) and checks that the contended lock is attributed to its user code.
func TestMutexContention(t *testing.T) {
	prev := runtime.SetMutexProfileFraction(1)
	defer runtime.SetMutexProfileFraction(prev)
	tg := newTarget(t)
	stop := load(t, tg.srv.URL+"/contend", 4, 0, 2*time.Second, 5)
	rep := run(t, tg)
	stop()
	m := rep.Mutex
	if m == nil || m.Status != doctor.ContentionOK || len(m.Sites) == 0 {
		t.Fatalf("mutex report = %+v, want samples", m)
	}
	// The test process's HTTP client and server contend on their own locks
	// too; the first site in this package must be the contended method.
	first := ""
	for _, s := range m.Sites {
		if strings.Contains(s.Function, "/doctor_test.") {
			first = s.Function
			break
		}
	}
	if !strings.HasSuffix(first, "doctor_test.(*target).contend") {
		t.Errorf("top user contention site = %q, want the contend method; sites %+v", first, m.Sites)
	}
	if !strings.Contains(rep.Verdict, "Mutex contention") {
		t.Errorf("verdict omits contention: %q", rep.Verdict)
	}
}

// TestDegradedTargets checks the fallbacks: without debug=2 dumps the leak
// is still found from function names; without delta profiles allocations
// are ranked over the process lifetime and labelled so.
func TestDegradedTargets(t *testing.T) {
	refuse := func(match func(*http.Request) bool) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if match(r) {
					http.Error(w, "not here", http.StatusBadRequest)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	t.Run("no goroutine dumps", func(t *testing.T) {
		tg := newTargetWith(t, refuse(func(r *http.Request) bool { return r.URL.Query().Get("debug") == "2" }))
		stop := load(t, tg.srv.URL+"/leak-chan", 2, 10*time.Millisecond, 2*time.Second, 5)
		rep := run(t, tg)
		stop()
		g := rep.Goroutines
		if g.Dumps || len(rep.Warnings) != 2 {
			t.Errorf("dumps = %v, warnings %q; want false and one warning per dump", g.Dumps, rep.Warnings)
		}
		if len(g.Suspects) == 0 {
			t.Fatal("no suspect without dumps")
		}
		top := g.Suspects[0]
		if !strings.HasSuffix(top.UserFrame.Function, "doctor_test.leakChanWorker") ||
			top.StateSource != "stack" || top.State != "chan receive" || top.Persisted != -1 || top.CreatedBy != nil {
			t.Errorf("top suspect = %+v", top)
		}
	})
	t.Run("no delta profiles", func(t *testing.T) {
		tg := newTargetWith(t, refuse(func(r *http.Request) bool {
			return r.URL.Path == "/debug/pprof/allocs" && r.URL.Query().Has("seconds")
		}))
		stop := load(t, tg.srv.URL+"/alloc", 2, 0, 2*time.Second, 5)
		rep := run(t, tg)
		stop()
		if rep.Alloc == nil || rep.Alloc.AllocSource != "since process start" || len(rep.Alloc.AllocSpace) == 0 {
			t.Fatalf("alloc = %+v", rep.Alloc)
		}
		if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "400 Bad Request") {
			t.Errorf("warnings = %q, want the refused delta", rep.Warnings)
		}
	})
}
