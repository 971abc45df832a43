package fasthttpengine

import (
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hotpath-dev/hotpath/internal/policy"
)

// The Trace step on fasthttp (policy.Tracer's core, no net/http adaptor):
// the parent comes from the request headers through requestCarrier, the
// span goes into the state's base context, so Context(ctx) carries it to
// handlers (the gateway's gRPC span is its child), and finish ends it with
// the final status. serve calls startSpan only when tracing is on: off, the
// step is one nil check (TestAllocs holds the engine to zero allocations).

// startSpan starts the request's SERVER span under st.base.
func (s *Server) startSpan(ctx *fasthttp.RequestCtx, st *reqState) {
	// A sampled-out span and its context go in the pooled state: Context
	// detaches them when a handler asks for the context.
	st.base, st.span = s.pol.Trace.StartIn(&st.spanBuf, st.base, requestCarrier{&ctx.Request.Header}, methodLabel(ctx))
	s.injectTraceparent(ctx, st)
}

// endSpan ends the request's span with its outcome; the request's
// attributes are read only when the span is recorded.
func endSpan(ctx *fasthttp.RequestCtx, span trace.Span, route string, code int) {
	if !span.IsRecording() {
		span.End()
		return
	}
	ri := policy.RequestInfo{
		Method:     methodLabel(ctx),
		Path:       string(ctx.Path()),
		Scheme:     "http",
		Host:       string(ctx.Host()),
		RemoteAddr: ctx.RemoteAddr().String(),
	}
	if ri.Method == "other" {
		ri.Method = string(ctx.Method())
	}
	if ctx.IsTLS() {
		ri.Scheme = "https"
	}
	switch string(ctx.Request.Header.Protocol()) {
	case "HTTP/1.1":
		ri.Proto = "1.1"
	case "HTTP/1.0":
		ri.Proto = "1.0"
	}
	policy.End(span, &ri, route, code)
}

// injectTraceparent sets traceparent on the response when configured
// (--trace-response-header); again after a reset response (panic, timeout).
func (s *Server) injectTraceparent(ctx *fasthttp.RequestCtx, st *reqState) {
	if st.span != nil && s.pol.Trace.ResponseHeader() {
		s.pol.Trace.InjectResponse(st.base, responseCarrier{&ctx.Response.Header})
	}
}

// traceID is the request's trace ID for the access log, "" without a span.
func traceID(st *reqState) string {
	if st.span == nil {
		return ""
	}
	if sc := st.span.SpanContext(); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// requestCarrier is a propagation.TextMapCarrier over fasthttp's request
// headers (read side: Get and Keys).
type requestCarrier struct{ h *fasthttp.RequestHeader }

var _ propagation.TextMapCarrier = requestCarrier{}

func (c requestCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c requestCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c requestCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

// responseCarrier is a propagation.TextMapCarrier over fasthttp's response
// headers (write side: Set).
type responseCarrier struct{ h *fasthttp.ResponseHeader }

func (c responseCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c responseCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c responseCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}
