package loadgen

import (
	"context"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/report"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func mustRun(t *testing.T, c Config) *report.Result {
	t.Helper()
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestClosedLoopRequestCount(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte("ok"))
	})
	res := mustRun(t, Config{URL: srv.URL + "/time", Connections: 4, Requests: 500})
	if res.Requests != 500 || res.Successes != 500 || res.Status["200"] != 500 || res.Errors != 0 {
		t.Fatalf("requests %d ok %d status %v errors %d, want 500 ok", res.Requests, res.Successes, res.Status, res.Errors)
	}
	if served.Load() != 500 {
		t.Errorf("server saw %d requests, want 500", served.Load())
	}
	if res.Latency != res.ServiceTime {
		t.Errorf("closed loop: latency %+v != service time %+v", res.Latency, res.ServiceTime)
	}
	if res.Mode != "closed" || res.Protocol != "http/1.1" || res.Generator == nil || res.BytesIn == 0 || res.BytesOut == 0 {
		t.Errorf("result fields not filled: %+v", res)
	}
}

// TestLatencyMixPercentiles is check (a): 2% of responses take 20ms more.
// The reported percentiles must land on the right side of 20ms, and the
// count of slow values must equal what the server slowed down.
func TestLatencyMixPercentiles(t *testing.T) {
	t.Parallel()
	const stall = 20 * time.Millisecond
	var n, slow atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%50 == 0 {
			slow.Add(1)
			time.Sleep(stall)
		}
	})
	res := mustRun(t, Config{URL: srv.URL, Connections: 1, Requests: 2000})
	if res.Requests != 2000 {
		t.Fatalf("requests = %d", res.Requests)
	}
	lat, _, err := res.DecodeHistograms()
	if err != nil {
		t.Fatal(err)
	}
	var above int64
	for _, b := range lat.Distribution() {
		if b.From >= stall.Microseconds() {
			above += b.Count
		}
	}
	// Every slowed response must be counted at or above 20ms. (A fast one
	// may get there too when the shared machine stalls, so no upper bound:
	// TestPercentilesExact checks exact values on a fake clock.)
	if above < slow.Load() {
		t.Errorf("%d values >= 20ms, but the server slowed %d", above, slow.Load())
	}
	us := stall.Microseconds()
	if res.Latency.P50 >= us/2 {
		t.Errorf("p50 %dµs should be far below the stall", res.Latency.P50)
	}
	// 2% of requests are slow, so p99 and max are at least the stall.
	if res.Latency.P99 < us-us/1000 || res.Latency.Max < us-us/1000 {
		t.Errorf("p99 %dµs max %dµs, want >= 20ms", res.Latency.P99, res.Latency.Max)
	}
}

// fakeClient takes a scripted time per request on a fake clock, so the
// true latency of every request is known exactly.
type fakeClient struct {
	clock *atomic.Int64
	n     int
	cost  func(i int) time.Duration
}

func (f *fakeClient) Do(_ context.Context, out *Outcome) {
	f.clock.Add(int64(f.cost(f.n)))
	f.n++
	*out = Outcome{Status: 200}
}
func (f *fakeClient) Close() error { return nil }

type fakeTransport struct{ c *fakeClient }

func (t fakeTransport) Name() string                           { return "fake" }
func (t fakeTransport) Open(context.Context) ([]Client, error) { return []Client{t.c}, nil }

// TestPercentilesExact is check (a) with a known truth: 99% of requests
// take 100µs + i%50 µs, 1% take an extra 20ms, timed on a fake clock. Every
// reported percentile must equal the true one within the histogram's
// precision (3 significant digits).
func TestPercentilesExact(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	cost := func(i int) time.Duration {
		d := time.Duration(100+i%50) * time.Microsecond
		if i%100 == 99 {
			d += 20 * time.Millisecond
		}
		return d
	}
	const n = 10000
	fc := &fakeClient{clock: &clock, cost: cost}
	res := mustRun(t, Config{URL: "http://fake", Connections: 1, Requests: n,
		Transport: fakeTransport{fc}, clock: func() time.Duration { return time.Duration(clock.Load()) }})
	truth := make([]int64, n)
	for i := range truth {
		truth[i] = cost(i).Microseconds()
	}
	slices.Sort(truth)
	at := func(p float64) int64 { // nearest rank, as HdrHistogram
		r := int(math.Ceil(p / 100 * n))
		return truth[max(r, 1)-1]
	}
	for _, tt := range []struct {
		name string
		p    float64
		got  int64
	}{
		{"p50", 50, res.Latency.P50}, {"p75", 75, res.Latency.P75}, {"p90", 90, res.Latency.P90},
		{"p99", 99, res.Latency.P99}, {"p99.9", 99.9, res.Latency.P999}, {"max", 100, res.Latency.Max},
	} {
		want := at(tt.p)
		if diff := math.Abs(float64(tt.got - want)); diff > float64(want)/1000+1 {
			t.Errorf("%s = %dµs, truth %dµs (beyond 0.1%%)", tt.name, tt.got, want)
		}
	}
	if res.Requests != n || res.Protocol != "fake" {
		t.Errorf("requests %d protocol %q", res.Requests, res.Protocol)
	}
}

// TestOpenLoopSendsRequestedCount is check (b): a fixed rate for a fixed
// time sends rate×duration requests ±1%, and -n sends exactly n.
func TestOpenLoopSendsRequestedCount(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
	tests := []struct {
		name string
		c    Config
		want uint64
	}{
		{"500/s for 2s", Config{Rate: 500, Duration: 2 * time.Second}, 1000},
		{"1000/s for 500 requests", Config{Rate: 1000, Requests: 500}, 500},
		{"fineRateMax/s (Go timers only) for 2000 requests", Config{Rate: fineRateMax, Requests: 2000}, 2000},
		{"fineRateMax/s for 0.2s", Config{Rate: fineRateMax, Duration: 200 * time.Millisecond}, fineRateMax / 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served.Store(0)
			tt.c.URL, tt.c.Connections = srv.URL, 4
			res := mustRun(t, tt.c)
			lo, hi := tt.want*99/100, tt.want*101/100
			if res.Requests < lo || res.Requests > hi {
				t.Errorf("measured %d requests, want %d ±1%%", res.Requests, tt.want)
			}
			if s := uint64(served.Load()); s < lo || s > hi {
				t.Errorf("server saw %d requests, want %d ±1%%", s, tt.want)
			}
			if res.Mode != "open" || res.RateTarget != tt.c.Rate {
				t.Errorf("mode %q rate %v", res.Mode, res.RateTarget)
			}
		})
	}
}

// TestCoordinatedOmission is check (c): at 1000/s over 10 connections the
// server stalls once for 500ms. The corrected latency must show it (P99 ≥
// 400ms); the service time, which starts when a request is actually sent,
// must not (P99 small) — as wrk2 reports.
func TestCoordinatedOmission(t *testing.T) {
	// Not parallel: other tests' load would add to the service times.
	var (
		mu         sync.Mutex
		start      = time.Now()
		stallUntil time.Time
		stalled    bool
	)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now := time.Now()
		if !stalled && now.Sub(start) > 700*time.Millisecond {
			stalled, stallUntil = true, now.Add(500*time.Millisecond)
		}
		until := stallUntil
		mu.Unlock()
		if d := time.Until(until); d > 0 {
			time.Sleep(d)
		}
	})
	res := mustRun(t, Config{URL: srv.URL, Connections: 10, Rate: 1000, Requests: 2000})
	if !stalled {
		t.Fatal("server never stalled")
	}
	if res.Requests != 2000 {
		t.Fatalf("%d requests, want 2000", res.Requests)
	}
	if res.Latency.P99 < 400_000 {
		t.Errorf("corrected p99 = %dµs, want >= 400ms", res.Latency.P99)
	}
	// Small means far below the corrected tail: only the ~10 requests in
	// flight during the stall (0.5%) took 500ms. Unloaded, the service-time
	// p99 is about a millisecond; the bound is relative so that a loaded
	// machine under -race (slow service times everywhere) does not fail it.
	if res.ServiceTime.P99 > res.Latency.P99/2 {
		t.Errorf("service-time p99 = %dµs (p90 %dµs), want well below the corrected p99 %dµs",
			res.ServiceTime.P99, res.ServiceTime.P90, res.Latency.P99)
	}
	if res.ServiceTime.Max < 400_000 {
		t.Errorf("service-time max = %dµs: the requests in flight during the stall should show it", res.ServiceTime.Max)
	}
	if res.LateSends < 300 {
		t.Errorf("late sends = %d, want the ~500 requests due during the stall", res.LateSends)
	}
}

func TestErrorsAreCountedNotFatal(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 4 {
		case 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1:
			// Close after part of the status line: a reset mid-response.
			// (A close before any byte would be retried on a new
			// connection when the old one was reused, like net/http
			// does, so it would not always count.)
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			_, _ = c.Write([]byte("HTTP/1.1 200"))
			c.Close()
		case 2:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	res := mustRun(t, Config{URL: srv.URL, Connections: 2, Requests: 400})
	if res.Requests != 400 {
		t.Fatalf("requests = %d", res.Requests)
	}
	if res.Status["503"] == 0 || res.Status["404"] == 0 || res.Status["200"] == 0 || res.ErrorClasses[ClassReset] == 0 {
		t.Errorf("status %v classes %v: every kind of failure should be counted", res.Status, res.ErrorClasses)
	}
	if res.Successes != res.Status["200"] || res.Errors != res.Requests-res.Successes {
		t.Errorf("ok %d errors %d status %v", res.Successes, res.Errors, res.Status)
	}
}

// TestStaleConnectionRetry pins the one retry the HTTP/1.1 client makes: a
// request on a reused connection that the server closed before answering
// (a keep-alive race) is sent once more on a new connection; a close on a
// new connection is an error, never retried.
func TestStaleConnectionRetry(t *testing.T) {
	t.Parallel()
	type perConn struct{ n atomic.Int64 }
	key := new(int)
	start := func(t *testing.T, closeOn int64) (*httptest.Server, *atomic.Int64) {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Context().Value(key).(*perConn).n.Add(1) == closeOn {
				hj, _ := w.(http.Hijacker)
				c, _, _ := hj.Hijack()
				c.Close() // closed before any byte of the response
				return
			}
			w.Write([]byte("ok"))
		}))
		srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			conns.Add(1)
			return context.WithValue(ctx, key, new(perConn))
		}
		srv.Start()
		t.Cleanup(srv.Close)
		return srv, &conns
	}
	t.Run("reused connection is retried", func(t *testing.T) {
		srv, conns := start(t, 2) // each connection answers one request, then closes
		res := mustRun(t, Config{URL: srv.URL, Connections: 1, Requests: 20})
		if res.Successes != 20 || res.Errors != 0 {
			t.Fatalf("ok %d errors %d status %v classes %v, want 20 ok", res.Successes, res.Errors, res.Status, res.ErrorClasses)
		}
		if got := conns.Load(); got != 20 {
			t.Errorf("%d connections, want 20 (one per request)", got)
		}
	})
	t.Run("new connection is not retried", func(t *testing.T) {
		srv, conns := start(t, 1) // every connection closes on its first request
		res := mustRun(t, Config{URL: srv.URL, Connections: 1, Requests: 10})
		if res.Errors != 10 || res.ErrorClasses[ClassReset] != 10 {
			t.Fatalf("errors %d classes %v, want 10 resets", res.Errors, res.ErrorClasses)
		}
		if got := conns.Load(); got != 10 {
			t.Errorf("%d connections, want 10 (no retries)", got)
		}
	})
}

func TestTimeoutIsCounted(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	res := mustRun(t, Config{URL: srv.URL, Connections: 1, Requests: 2, Timeout: 50 * time.Millisecond})
	if res.ErrorClasses[ClassTimeout] != 2 || res.Errors != 2 {
		t.Fatalf("classes %v errors %d, want 2 timeouts", res.ErrorClasses, res.Errors)
	}
}

func TestDisableKeepAliveOpensConnectionPerRequest(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	res := mustRun(t, Config{URL: srv.URL, Connections: 2, Requests: 50, DisableKeepAlive: true})
	if res.Successes != 50 {
		t.Fatalf("ok = %d, errors %v", res.Successes, res.ErrorClasses)
	}
	if c := conns.Load(); c < 50 {
		t.Errorf("%d connections for 50 requests", c)
	}
}

func TestWarmupIsExcluded(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
	res := mustRun(t, Config{URL: srv.URL, Connections: 1, Rate: 200, Warmup: 500 * time.Millisecond, Requests: 100})
	if res.Requests != 100 {
		t.Fatalf("measured %d, want 100", res.Requests)
	}
	if s := served.Load(); s < 190 || s > 210 {
		t.Errorf("server saw %d requests, want ~100 warm-up + 100 measured", s)
	}
	if res.WarmupS != 0.5 {
		t.Errorf("warmup_s = %v", res.WarmupS)
	}
}

func TestHTTP2(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	protos := map[string]int{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.Proto]++
		mu.Unlock()
		w.Write([]byte("hello"))
	})
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	h2cSrv := httptest.NewUnstartedServer(h)
	h2cSrv.Config.Protocols = new(http.Protocols)
	h2cSrv.Config.Protocols.SetUnencryptedHTTP2(true)
	h2cSrv.Config.Protocols.SetHTTP1(true)
	h2cSrv.Start()
	t.Cleanup(h2cSrv.Close)

	tests := []struct {
		name, proto string
		c           Config
	}{
		{"TLS with ALPN", "h2", Config{URL: tlsSrv.URL, HTTP2: true, Insecure: true}},
		{"h2c with prior knowledge", "h2c", Config{URL: h2cSrv.URL, H2C: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Connections, tt.c.Streams, tt.c.Requests = 2, 8, 300
			res := mustRun(t, tt.c)
			if res.Successes != 300 || res.Protocol != tt.proto || res.Streams != 8 || res.BytesIn != 300*5 {
				t.Fatalf("ok %d protocol %q streams %d in %d; errors %v", res.Successes, res.Protocol, res.Streams, res.BytesIn, res.ErrorClasses)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if protos["HTTP/2.0"] != 600 || len(protos) != 1 {
		t.Errorf("server saw %v, want only HTTP/2.0", protos)
	}
}

func TestTLSHTTP1(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 {
			w.WriteHeader(500)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	res := mustRun(t, Config{URL: srv.URL, Insecure: true, Connections: 2, Requests: 100})
	if res.Successes != 100 || res.Protocol != "http/1.1+tls" {
		t.Fatalf("ok %d protocol %s classes %v status %v", res.Successes, res.Protocol, res.ErrorClasses, res.Status)
	}
	// Without --insecure the self-signed certificate is refused up front.
	_, err := Run(context.Background(), Config{URL: srv.URL, Requests: 1})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("self-signed without Insecure: %v, want ErrUnreachable", err)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		c    Config
		want error
		msg  string
	}{
		{"no URL", Config{}, ErrConfig, "scheme"},
		{"ftp URL", Config{URL: "ftp://x"}, ErrConfig, "scheme must be http or https"},
		{"URL without host", Config{URL: "http://"}, ErrConfig, "no host"},
		{"unparsable URL", Config{URL: "http://[::1"}, ErrConfig, "URL"},
		{"negative rate", Config{URL: "http://x", Rate: -1}, ErrConfig, "rate"},
		{"zero connections is default, negative is not", Config{URL: "http://x", Connections: -1}, ErrConfig, "connections"},
		{"streams need HTTP/2", Config{URL: "http://x", Streams: 4}, ErrConfig, "HTTP/2"},
		{"h2 needs https", Config{URL: "http://x", HTTP2: true}, ErrConfig, "https"},
		{"bad header", Config{URL: "http://x", Headers: []Header{{"Bad Name", "v"}}}, ErrConfig, "header"},
		{"bad method", Config{URL: "http://x", Method: "GE T"}, ErrConfig, "method"},
		{"nobody listening", Config{URL: closed, Requests: 1}, ErrUnreachable, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.c)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) || !IsBadInput(err) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestCancelReturnsPartialResult(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	res, err := Run(ctx, Config{URL: srv.URL, Connections: 2, Duration: time.Minute,
		ProgressEvery: 20 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Requests > 0 {
				once.Do(cancel)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Requests == 0 || res.DurationS >= 60 {
		t.Fatalf("interrupted %v requests %d duration %v", res.Interrupted, res.Requests, res.DurationS)
	}
	if res.Errors != 0 {
		t.Errorf("aborting in-flight requests must not count errors: %v", res.ErrorClasses)
	}
}

func TestServerCostMeter(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	res := mustRun(t, Config{URL: srv.URL, Connections: 2, Requests: 300, ServerPID: selfPID()})
	if res.Server == nil || res.Server.PeakRSSBytes == 0 || res.Server.PID != selfPID() {
		t.Fatalf("server meter %+v", res.Server)
	}
	if _, err := Run(context.Background(), Config{URL: srv.URL, Requests: 1, ServerPID: 1 << 30}); err == nil {
		t.Error("a missing server pid should be reported")
	}
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	line := "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 4 {
		t.Fatalf("got %v, %v; want 4 seconds", got, err)
	}
	if _, err := parseStatCPU([]byte("1 (x) S 1")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestHTTP2RefusedWhenNotNegotiated(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS() // HTTP/1.1 only: EnableHTTP2 is false
	t.Cleanup(srv.Close)
	_, err := Run(context.Background(), Config{URL: srv.URL, HTTP2: true, Insecure: true, Requests: 1})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

// TestHTTP1Framing runs real net/http responses through the lean client:
// chunked bodies, HEAD responses that announce a length but carry no body,
// and servers that close after each response.
func TestHTTP1Framing(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part one "))
			w.(http.Flusher).Flush() // forces Transfer-Encoding: chunked
			w.Write([]byte("part two"))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		default:
			w.Header().Set("Content-Length", "5")
			if r.Method != "HEAD" {
				w.Write([]byte("hello"))
			}
		}
	})
	tests := []struct {
		name   string
		c      Config
		minIn  uint64 // at least this many bytes per response
		maxIn  uint64
		noErrs bool
	}{
		{"chunked body", Config{URL: srv.URL + "/chunked"}, 100, 400, true},
		{"HEAD announces 5 bytes but sends none", Config{URL: srv.URL + "/", Method: "HEAD"}, 50, 200, true},
		{"server closes after each response", Config{URL: srv.URL + "/close"}, 50, 300, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Connections, tt.c.Requests = 2, 100
			res := mustRun(t, tt.c)
			if res.Successes != 100 || res.Errors != 0 {
				t.Fatalf("ok %d errors %d classes %v", res.Successes, res.Errors, res.ErrorClasses)
			}
			if per := res.BytesIn / 100; per < tt.minIn || per > tt.maxIn {
				t.Errorf("%d bytes in per response, want %d..%d", per, tt.minIn, tt.maxIn)
			}
		})
	}
}
