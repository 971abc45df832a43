package fasthttpengine

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/tracing"
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

// Sampled out (ratio 0): the span and its context live in the pooled
// request state, so a request allocates nothing; a handler that keeps its
// Context gets a copy whose span context survives the state's reuse.
func TestSampledOutInPooledState(t *testing.T) {
	p, err := tracing.New(context.Background(), tracing.Config{Exporter: tracetest.NewInMemoryExporter(), Sampler: "traceidratio", SamplerArg: "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	s, err := New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff, TraceResponseHeader: true}, server.WithTracing(p))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	RegisterService(s)
	var kept []context.Context
	s.Handle("GET /keep", func(ctx *fasthttp.RequestCtx) { kept = append(kept, Context(ctx)) })
	h := s.Handler()
	var want []trace.SpanContext
	for range 3 {
		ctx := newCtx("GET", "/keep", nil)
		h(ctx)
		want = append(want, trace.SpanContextFromContext(kept[len(kept)-1]))
		if tp := string(ctx.Response.Header.Peek("Traceparent")); tp != "00-"+want[len(want)-1].TraceID().String()+"-"+want[len(want)-1].SpanID().String()+"-00" {
			t.Errorf("traceparent %q, span context %v", tp, want[len(want)-1])
		}
	}
	for i, c := range kept {
		sc := trace.SpanContextFromContext(c)
		if !sc.IsValid() || sc.IsSampled() || !sc.Equal(want[i]) {
			t.Errorf("kept context %d: %v, want %v (valid, unsampled, unchanged)", i, sc, want[i])
		}
	}
	if !want[0].IsValid() || want[0].TraceID() == want[1].TraceID() {
		t.Errorf("requests share trace %s", want[0].TraceID())
	}
	if raceEnabled {
		return // allocation counts are meaningless under -race
	}
	// Without the response header (whose value is a new string).
	s2, err := New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff}, server.WithTracing(p))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown(context.Background())
	RegisterService(s2)
	h = s2.Handler()
	ctx := newCtx("GET", "/time", nil)
	h(ctx)
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h(ctx)
	})
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("GET /time: %d", ctx.Response.StatusCode())
	}
	if allocs != 0 {
		t.Errorf("sampled out: %.1f allocs per request, want 0", allocs)
	}
}
