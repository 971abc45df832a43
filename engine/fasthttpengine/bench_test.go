package fasthttpengine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
	"github.com/hotpath-dev/hotpath/tracing"
)

// BenchmarkTime compares GET /time on the bare fasthttp handler, through
// this engine's default chain, and through the net/http engine's default
// chain (handler only, no network in any of them).
func BenchmarkTime(b *testing.B) {
	b.Run("fasthttp-bare", func(b *testing.B) {
		ctx := newCtx("GET", "/time", nil)
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			timeHandler(ctx)
		}
	})
	b.Run("fasthttp-engine", func(b *testing.B) {
		h := newTestServer(b).Handler()
		ctx := newCtx("GET", "/time", nil)
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			h(ctx)
		}
	})
	b.Run("nethttp-engine", func(b *testing.B) {
		s, err := server.New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff})
		if err != nil {
			b.Fatal(err)
		}
		h := s.Handler()
		req := httptest.NewRequest("GET", "/time", nil)
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkJSON is GET /json through this engine's default chain.
func BenchmarkJSON(b *testing.B) {
	h := newTestServer(b).Handler()
	ctx := newCtx("GET", "/json", nil)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

var _ fasthttp.RequestHandler = timeHandler

// discardExporter drops what it is sent: the tracing benchmarks measure the
// request side (span start, attributes, end, queue), not an exporter.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracing is GET /time through each engine's default chain with
// tracing off, on but sampled out (ratio 0), at 1 % and at 100 %
// (traceidratio: requests carry no traceparent, so each is a root span).
// Compare with benchstat -col /tracing (docs/tracing.md).
func BenchmarkTracing(b *testing.B) {
	for _, mode := range []struct{ name, ratio string }{{"off", ""}, {"ratio0", "0"}, {"ratio0.01", "0.01"}, {"ratio1", "1"}} {
		opts := func(b *testing.B) []server.Option {
			if mode.ratio == "" {
				return nil
			}
			p, err := tracing.New(context.Background(), tracing.Config{Exporter: discardExporter{}, Sampler: "traceidratio", SamplerArg: mode.ratio}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Shutdown(context.Background()) })
			return []server.Option{server.WithTracing(p)}
		}
		cfg := server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff}
		b.Run("engine=fasthttp/tracing="+mode.name, func(b *testing.B) {
			s, err := New(cfg, opts(b)...)
			if err != nil {
				b.Fatal(err)
			}
			RegisterService(s)
			h := s.Handler()
			ctx := newCtx("GET", "/time", nil)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				ctx.Response.Reset()
				h(ctx)
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
		b.Run("engine=nethttp/tracing="+mode.name, func(b *testing.B) {
			s, err := server.New(cfg, opts(b)...)
			if err != nil {
				b.Fatal(err)
			}
			service.Register(s)
			h := s.Handler()
			req := httptest.NewRequest("GET", "/time", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
