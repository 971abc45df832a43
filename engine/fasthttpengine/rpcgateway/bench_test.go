package rpcgateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/rpc"
	"github.com/hotpath-dev/hotpath/server"
)

// BenchmarkFastHTTPGatewayTime is GET /v1/time, interceptors and metrics
// included, through: this adapter alone; the fasthttp engine's default
// chain around it (what `hotpath serve --engine fasthttp` runs); and
// rpc.Gateway.ServeHTTP with a reused request and a discarding writer (the
// net/http adapter of the same core, without net/http's server). No
// network in any of them.
func BenchmarkFastHTTPGatewayTime(b *testing.B) {
	rs, err := rpc.New(rpc.Config{Now: func() time.Time { return fixedNow }}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Stop()
	gw := rs.Gateway()
	b.Run("adapter", func(b *testing.B) {
		benchFastHTTP(b, Handler(gw))
	})
	b.Run("engine", func(b *testing.B) {
		s, err := fasthttpengine.New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff})
		if err != nil {
			b.Fatal(err)
		}
		s.Handle("/v1/", Handler(gw))
		benchFastHTTP(b, s.Handler())
	})
	b.Run("nethttp-adapter", func(b *testing.B) {
		req := httptest.NewRequest("GET", "/v1/time", nil)
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			gw.ServeHTTP(w, req)
			if w.code != 200 {
				b.Fatal(w.code)
			}
		}
	})
}

// BenchmarkFastHTTPGatewayEcho is POST /v1/echo with a small body and two
// metadata headers through this adapter.
func BenchmarkFastHTTPGatewayEcho(b *testing.B) {
	rs, err := rpc.New(rpc.Config{}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Stop()
	ctx := request{"POST", "/v1/echo", `{"message":"hello, hotpath","data":"AAECAwQFBgcICQ=="}`,
		[][2]string{{"Content-Type", "application/json"}, {"X-Tenant", "blue"}}}.fasthttp()
	h := Handler(rs.Gateway())
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode(), string(ctx.Response.Body()))
		}
	}
}

func benchFastHTTP(b *testing.B, h fasthttp.RequestHandler) {
	ctx := request{"GET", "/v1/time", "", nil}.fasthttp()
	h(ctx) // creates the metric series
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
		if ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), "unixMs") {
			b.Fatal(ctx.Response.StatusCode(), string(ctx.Response.Body()))
		}
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
