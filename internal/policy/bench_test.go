package policy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// benchWriter is a cheap ResponseWriter so that benchmarks measure the
// middleware, not httptest.ResponseRecorder. Its header map is reused (cleared
// per request): net/http allocates one per request for both the bare and the
// wrapped handler, so leaving it out of both keeps the comparison fair.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	w.n += len(p)
	return len(p), nil
}
func (w *benchWriter) reset() { clear(w.h); w.code, w.n = 0, 0 }

var timeBody = []byte("1764160000000")

// bareHandler is the seed's /time handler shape: one header, a short body.
var bareHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = textPlain
	_, _ = w.Write(timeBody)
})

// benchRequest is a reusable GET /time whose context is a cancelable one, as
// net/http's is.
func benchRequest(b testing.TB) *http.Request {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	r := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: "/time"},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"User-Agent": {"bench"}},
		Host:       "localhost",
		RemoteAddr: "127.0.0.1:40000",
	}
	return r.WithContext(ctx)
}

func benchHandler(b *testing.B, h http.Handler) { benchHandlerReq(b, h, benchRequest(b)) }

func benchHandlerReq(b *testing.B, h http.Handler, r *http.Request) {
	b.Helper()
	w := &benchWriter{h: make(http.Header, 8)}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	runtime.KeepAlive(benchHeap)
	if w.code >= 500 {
		b.Fatalf("status %d", w.code)
	}
}

// benchHeap is a live heap of HOTPATH_BENCH_HEAP_MB megabytes (default 0)
// held during the benchmarks. A benchmark process has an almost empty heap,
// so the GC runs every 4 MB allocated and its fixed cost per cycle lands on
// every allocation; a server with a working set of tens of MB collects far
// less often. Setting it shows the per-request cost under that condition.
var benchHeap = func() [][]byte {
	mb, _ := strconv.Atoi(os.Getenv("HOTPATH_BENCH_HEAP_MB"))
	heap := make([][]byte, mb)
	for i := range heap {
		heap[i] = make([]byte, 1<<20)
	}
	return heap
}()

func newBenchMetrics(b testing.TB) *HTTPMetrics {
	m, err := NewHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// DefaultChain is the chain the server uses by default, for the benchmark.
func defaultChain(m *HTTPMetrics) Middleware {
	return Chain(
		Recover(slog.New(slog.NewTextHandler(io.Discard, nil))),
		RequestID(),
		Metrics(m),
		Timeout(10*time.Second),
	)
}

// BenchmarkChain compares the bare handler with the default chain (Recover,
// RequestID, Metrics, Timeout) and with every middleware on. Compare with
// benchstat -col /chain.
func BenchmarkChain(b *testing.B) {
	m := newBenchMetrics(b)
	cases := []struct {
		name string
		h    http.Handler
	}{
		{"bare", bareHandler},
		{"default", defaultChain(m)(Labeled("/time", bareHandler))},
		{"all", allChain(b)(Labeled("/time", bareHandler))},
	}
	for _, c := range cases {
		b.Run("chain="+c.name, func(b *testing.B) { benchHandler(b, c.h) })
	}
}

// allChain is every middleware, in the server's order, with the access log
// sampling 1 in 100 to io.Discard.
func allChain(b *testing.B) Middleware {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	access, closer := AccessLog(AccessLogConfig{Out: io.Discard, Sample: 100})
	b.Cleanup(func() { _ = closer.Close() })
	return Chain(
		Recover(logger),
		RequestID(),
		access,
		Metrics(newBenchMetrics(b)),
		Shed(1000),
		RateLimit(RateLimitConfig{Rate: 1e9}),
		CORS(CORSConfig{AllowedOrigins: []string{"*"}}),
		Timeout(10*time.Second),
		MaxBytes(1<<20),
	)
}

// BenchmarkMiddleware measures each middleware alone around the bare handler.
func BenchmarkMiddleware(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name  string
		mw    func(b *testing.B) Middleware
		setup func(r *http.Request)
	}{
		{"Recover", func(*testing.B) Middleware { return Recover(logger) }, nil},
		{"RequestID", func(*testing.B) Middleware { return RequestID() }, nil},
		{"RequestID/incoming", func(*testing.B) Middleware { return RequestID() }, func(r *http.Request) {
			r.Header.Set(RequestIDHeader, "5f1c2a9be07d4c31-000000000000002a")
		}},
		{"Metrics", func(b *testing.B) Middleware { return Metrics(newBenchMetrics(b)) }, nil},
		{"Timeout", func(*testing.B) Middleware { return Timeout(10 * time.Second) }, nil},
		{"CORS", func(*testing.B) Middleware { return CORS(CORSConfig{AllowedOrigins: []string{"https://a.example"}}) }, func(r *http.Request) {
			r.Header.Set("Origin", "https://a.example")
		}},
		{"Auth", func(*testing.B) Middleware { return Auth([]string{"token-1", "token-2"}, "bench") }, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer token-2")
		}},
		{"RateLimit", func(*testing.B) Middleware { return RateLimit(RateLimitConfig{Rate: 1e9}) }, nil},
		{"Shed", func(*testing.B) Middleware { return Shed(1000) }, nil},
		{"MaxBytes", func(*testing.B) Middleware { return MaxBytes(1 << 20) }, nil},
		{"AccessLog/sample=1", func(b *testing.B) Middleware {
			mw, c := AccessLog(AccessLogConfig{Out: io.Discard})
			b.Cleanup(func() { _ = c.Close() })
			return mw
		}, nil},
		{"AccessLog/sample=100", func(b *testing.B) Middleware {
			mw, c := AccessLog(AccessLogConfig{Out: io.Discard, Sample: 100})
			b.Cleanup(func() { _ = c.Close() })
			return mw
		}, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := c.mw(b)(Labeled("/time", bareHandler))
			r := benchRequest(b)
			if c.setup != nil {
				c.setup(r)
			}
			benchHandlerReq(b, h, r)
		})
	}
}

// BenchmarkTimeoutAlternatives compares Timeout with the two usual ways of
// bounding a request: the standard library's http.TimeoutHandler (a
// goroutine, a buffer and a header map per request) and a middleware that
// only sets context.WithTimeout (no 503, no protection against late writes).
// Compare with benchstat -col /impl.
func BenchmarkTimeoutAlternatives(b *testing.B) {
	withTimeout := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	cases := []struct {
		name string
		h    http.Handler
	}{
		{"hotpath", Timeout(10 * time.Second)(bareHandler)},
		{"http.TimeoutHandler", http.TimeoutHandler(bareHandler, 10*time.Second, "timeout")},
		{"context.WithTimeout", withTimeout(bareHandler)},
	}
	for _, c := range cases {
		b.Run("impl="+c.name, func(b *testing.B) { benchHandler(b, c.h) })
	}
}

// BenchmarkChainParallel runs the default chain from every P at once, to show
// contention on what requests share (the deadline queue, pools, metric
// atomics).
func BenchmarkChainParallel(b *testing.B) {
	h := defaultChain(newBenchMetrics(b))(Labeled("/time", bareHandler))
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		r := benchRequest(b)
		w := &benchWriter{h: make(http.Header, 8)}
		for pb.Next() {
			w.reset()
			h.ServeHTTP(w, r)
		}
	})
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	runtime.KeepAlive(benchHeap)
}
