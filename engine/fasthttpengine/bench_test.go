package fasthttpengine

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
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
