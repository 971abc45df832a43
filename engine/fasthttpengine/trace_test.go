package fasthttpengine

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
)

// Tracing off (no endpoint anywhere), whatever the other tracing settings:
// the engine has no Trace step and a request still allocates nothing.
func TestTracingOffAllocatesNothing(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	s, err := New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff,
		TraceResponseHeader: true, TraceSampler: "always_on", ServiceName: "off"})
	if err != nil {
		t.Fatal(err)
	}
	RegisterService(s)
	defer s.Shutdown(context.Background())
	if s.pol.Trace != nil {
		t.Fatal("tracing is on without an endpoint")
	}
	if raceEnabled {
		return // allocation counts are meaningless under -race; the check above still ran
	}
	h := s.Handler()
	ctx := newCtx("GET", "/time", map[string]string{"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	h(ctx)
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h(ctx)
	})
	if ctx.Response.StatusCode() != 200 || len(ctx.Response.Header.Peek("Traceparent")) != 0 {
		t.Fatalf("GET /time: %d, traceparent %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Traceparent"))
	}
	if allocs != 0 {
		t.Errorf("tracing off: %.1f allocs per request, want 0", allocs)
	}
}

// The carriers read and write fasthttp's headers in any key case.
func TestCarriers(t *testing.T) {
	var req fasthttp.RequestHeader
	req.Set("Traceparent", "tp")
	req.Set("Baggage", "k=v")
	rc := requestCarrier{&req}
	if rc.Get("traceparent") != "tp" || rc.Get("baggage") != "k=v" || rc.Get("tracestate") != "" {
		t.Errorf("request Get: %q %q", rc.Get("traceparent"), rc.Get("baggage"))
	}
	if len(rc.Keys()) < 2 {
		t.Errorf("request Keys = %v", rc.Keys())
	}
	var resp fasthttp.ResponseHeader
	wc := responseCarrier{&resp}
	wc.Set("traceparent", "00-x")
	if string(resp.Peek("Traceparent")) != "00-x" || wc.Get("traceparent") != "00-x" {
		t.Errorf("response Set: %q", resp.Peek("Traceparent"))
	}
}
