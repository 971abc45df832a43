package fasthttpengine

import (
	"bytes"
	"context"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// newTestServer builds an engine with the default configuration and no
// listeners, for calling its handler directly.
func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	s, err := New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff})
	if err != nil {
		tb.Fatal(err)
	}
	RegisterService(s)
	tb.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// newCtx returns a RequestCtx holding a request for method and uri.
func newCtx(method, uri string, header map[string]string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	return &ctx
}

// TestHotPathAllocs is the engine's zero-allocation promise: /time and /json
// through the default chain (recover, request ID, metrics, shed, timeout)
// allocate nothing per request once their metric series exist.
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	s := newTestServer(t)
	h := s.Handler()
	tests := []struct {
		name   string
		path   string
		header map[string]string
		check  func([]byte) bool
	}{
		{"time", "/time", nil, func(b []byte) bool { return len(b) >= 13 }},
		{"json", "/json", nil, func(b []byte) bool { return bytes.Equal(b, service.JSONBody) }},
		{"time with an incoming request ID", "/time", map[string]string{"X-Request-ID": "req-42"}, func(b []byte) bool { return len(b) >= 13 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx("GET", tc.path, tc.header)
			h(ctx) // first request creates the metric series
			allocs := testing.AllocsPerRun(1000, func() {
				ctx.Response.Reset()
				h(ctx)
			})
			if code := ctx.Response.StatusCode(); code != 200 || !tc.check(ctx.Response.Body()) {
				t.Fatalf("GET %s: %d %q", tc.path, code, ctx.Response.Body())
			}
			if len(ctx.Response.Header.Peek("X-Request-Id")) == 0 {
				t.Fatalf("GET %s: no X-Request-ID", tc.path)
			}
			if allocs != 0 {
				t.Errorf("GET %s through the default chain: %.1f allocs per request, want 0", tc.path, allocs)
			}
		})
	}
}
