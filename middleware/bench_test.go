package middleware

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
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

func benchHandler(b *testing.B, h http.Handler) {
	b.Helper()
	r := benchRequest(b)
	w := &benchWriter{h: make(http.Header, 8)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
	}
	if w.code >= 500 {
		b.Fatalf("status %d", w.code)
	}
}

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

func BenchmarkBare(b *testing.B) { benchHandler(b, bareHandler) }

func BenchmarkDefaultChain(b *testing.B) {
	benchHandler(b, defaultChain(newBenchMetrics(b))(Labeled("/time", bareHandler)))
}

func BenchmarkAlone(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name string
		mw   func(b *testing.B) Middleware
	}{
		{"Recover", func(*testing.B) Middleware { return Recover(logger) }},
		{"RequestID", func(*testing.B) Middleware { return RequestID() }},
		{"Metrics", func(b *testing.B) Middleware { return Metrics(newBenchMetrics(b)) }},
		{"Timeout", func(*testing.B) Middleware { return Timeout(10 * time.Second) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			benchHandler(b, c.mw(b)(Labeled("/time", bareHandler)))
		})
	}
}
