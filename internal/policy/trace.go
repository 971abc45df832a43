package policy

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the HTTP server spans.
const TracerName = "github.com/hotpath-dev/hotpath"

// Tracer is the Trace step's piece: it makes one SERVER span per HTTP
// request, named "METHOD route" (just "METHOD" when no route matched) with
// the HTTP semantic conventions' attributes, parented by an incoming
// traceparent. Safe for concurrent use.
//
// Engine-neutral core: an engine calls Start with a carrier over its
// request headers, puts the returned context where handlers find it, and
// calls End once the response status is known (with the RequestInfo when
// the span IsRecording).
type Tracer struct {
	tracer     trace.Tracer
	tp         trace.TracerProvider
	prop       propagation.TextMapPropagator
	respHeader bool
	sampling   Sampling         // nil: every span starts through the SDK
	sampler    sdktrace.Sampler // sampling's
	rootsKept  bool             // sampler keeps every root: roots go to the SDK at once
}

// NewTracer returns the Trace step's piece for tp; prop extracts the parent
// (and baggage) from request headers (nil: W3C tracecontext and baggage).
// With responseHeader, every response carries the request span's
// traceparent (propagation.TraceContext).
func NewTracer(tp trace.TracerProvider, prop propagation.TextMapPropagator, responseHeader bool) *Tracer {
	if prop == nil {
		prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return &Tracer{tracer: tp.Tracer(TracerName), tp: tp, prop: prop, respHeader: responseHeader}
}

// useSampling makes Start ask s's sampler before starting a span (see
// Sampling); s must be tp's.
func (t *Tracer) useSampling(s Sampling) {
	t.sampling, t.sampler = s, s.Sampler()
	t.rootsKept = keepsEveryRoot(t.sampler)
}

// ResponseHeader reports whether responses carry traceparent.
func (t *Tracer) ResponseHeader() bool { return t.respHeader }

// Start extracts the parent from carrier into parent and starts the
// request's SERVER span, named for method alone until End renames it.
// Attributes are left to End (one write instead of several, each of which
// would grow the span's attribute slice). With a Sampling (Config's
// TraceSampling), a span the sampler drops is not started through the SDK
// at all: the returned span is a non-recording one with the same span
// context the SDK would give it (the trace ID, a new span ID, flags
// without "sampled", the sampler's trace state) and the provider's
// TracerProvider.
func (t *Tracer) Start(parent context.Context, carrier propagation.TextMapCarrier, method string) (context.Context, trace.Span) {
	ctx := t.prop.Extract(parent, carrier)
	if t.sampling != nil {
		return t.start(ctx, spanMethod(method), nil)
	}
	return t.tracer.Start(ctx, spanMethod(method), serverKind...)
}

// serverKind is Start's one option, made once: a variadic argument built
// per call would be an allocation per request.
var serverKind = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// HeaderCarrier is propagation.HeaderCarrier without its per-lookup
// allocation: http.Header.Get canonicalises the propagators' lower-case
// keys ("traceparent") into a new string on every call; the keys the
// W3C propagators use are looked up by their canonical form directly.
type HeaderCarrier http.Header

// Get returns the first value of key, "" when there is none.
func (c HeaderCarrier) Get(key string) string {
	var v []string
	switch key {
	case "traceparent":
		v = c["Traceparent"]
	case "tracestate":
		v = c["Tracestate"]
	case "baggage":
		v = c["Baggage"]
	default:
		return http.Header(c).Get(key)
	}
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Set replaces the values of key with value.
func (c HeaderCarrier) Set(key, value string) {
	switch key {
	case "traceparent":
		c["Traceparent"] = []string{value}
	case "tracestate":
		c["Tracestate"] = []string{value}
	default:
		http.Header(c).Set(key, value)
	}
}

// Keys lists the header names, canonical, in no particular order (a new
// slice).
func (c HeaderCarrier) Keys() []string { return propagation.HeaderCarrier(c).Keys() }

// InjectResponse writes the span context of ctx into carrier (the
// response headers) when responses carry traceparent.
func (t *Tracer) InjectResponse(ctx context.Context, carrier propagation.TextMapCarrier) {
	if t.respHeader {
		propagation.TraceContext{}.Inject(ctx, carrier)
	}
}

// RequestInfo is what End records of a request.
type RequestInfo struct {
	Method     string
	Path       string // URL path
	Scheme     string // "http" or "https"
	Host       string // Host header, with or without a port
	Proto      string // network.protocol.version: "1.0", "1.1", "2"
	RemoteAddr string // client host:port (or host)
}

// attrBufs pools End's attribute buffers: the SDK copies what it is given,
// so one buffer serves request after request.
var attrBufs = sync.Pool{New: func() any { return new([12]attribute.KeyValue) }}

// End records the outcome on span and ends it. When the span IsRecording
// (ri is then required; callers fill it only in that case, so a span that
// is not sampled costs no attribute work) it sets, in one call,
// http.request.method (with http.request.method_original for an unknown
// one), url.path, url.scheme, server.address and server.port,
// network.protocol.version, client.address, http.route (the path of route,
// the router's pattern: "GET /time" or "/time"; none when route is "") and
// http.response.status_code; the name becomes "METHOD route" (just
// "METHOD" without a route), and a status of 500 or more marks the span as
// an error.
func End(span trace.Span, ri *RequestInfo, route string, status int) {
	if ri != nil && span.IsRecording() {
		buf := attrBufs.Get().(*[12]attribute.KeyValue)
		attrs := buf[:0]
		m := MethodLabel(ri.Method)
		if m == "other" {
			attrs = append(attrs, semconv.HTTPRequestMethodOther, semconv.HTTPRequestMethodOriginal(ri.Method))
		} else {
			attrs = append(attrs, semconv.HTTPRequestMethodKey.String(m))
		}
		attrs = append(attrs, semconv.URLPath(ri.Path), semconv.URLScheme(ri.Scheme))
		if host, port := splitHostPort(ri.Host); host != "" {
			attrs = append(attrs, semconv.ServerAddress(host))
			if port > 0 {
				attrs = append(attrs, semconv.ServerPort(port))
			}
		}
		if ri.Proto != "" {
			attrs = append(attrs, semconv.NetworkProtocolVersion(ri.Proto))
		}
		if host, _ := splitHostPort(ri.RemoteAddr); host != "" {
			attrs = append(attrs, semconv.ClientAddress(host))
		}
		if p := RoutePath(route); p != "" {
			span.SetName(spanMethod(ri.Method) + " " + p)
			attrs = append(attrs, semconv.HTTPRoute(p))
		}
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
		span.SetAttributes(attrs...)
		clear(buf[:])
		attrBufs.Put(buf)
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}

// RoutePath is the path of a route pattern: "GET /time" and
// "GET example.com/time" give "/time", "/v1/" gives "/v1/", "" gives "".
func RoutePath(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 && !strings.Contains(pattern[:i], "/") { // a method
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// spanMethod is the method in a span name: the known ones as they are,
// "HTTP" for any other (the semantic conventions' rule).
func spanMethod(m string) string {
	if l := MethodLabel(m); l != "other" {
		return l
	}
	return "HTTP"
}

// splitHostPort splits "host:port", "[v6]:port", "host" or "v6"; port is 0
// when absent or not a number.
func splitHostPort(hp string) (host string, port int) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		n := 0
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return h, 0
			}
			if n = n*10 + int(p[i]-'0'); n > 65535 {
				return h, 0
			}
		}
		return h, n
	}
	return strings.Trim(hp, "[]"), 0
}

// TraceIDFrom returns the trace ID of the span in ctx as 32 hex digits, or
// "" when there is none.
func TraceIDFrom(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// Middleware returns the net/http adapter of the Trace step; route names
// the route of a request refused before the router (nil: none). Inside the
// default chain (after RequestID) it adds the span to the request's own
// state, so the request is not copied again.
func (t *Tracer) Middleware(route func(*http.Request) string) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, direct := r.Context().(*reqState)
			var span trace.Span
			var ctx context.Context
			if direct {
				// Fresh from RequestID: nothing else has seen the state.
				st.mu.Lock()
				st.parent, span = t.Start(st.parent, HeaderCarrier(r.Header), r.Method)
				st.mu.Unlock()
				ctx = st
			} else {
				ctx, span = t.Start(r.Context(), HeaderCarrier(r.Header), r.Method)
				r = r.WithContext(ctx)
			}
			if t.respHeader {
				t.InjectResponse(ctx, HeaderCarrier(w.Header()))
			}
			if !span.IsRecording() {
				// Sampled out: the span only carries the trace context to
				// the handler; nothing about the response is recorded.
				next.ServeHTTP(w, r)
				span.End()
				return
			}
			sw, owned := acquireStatusWriter(w)
			done := false
			defer func() {
				code := sw.status()
				if !done && !sw.written() {
					code = http.StatusInternalServerError // what Recover (or net/http) will do
				}
				label := routeOf(sw, r)
				if label == "" && route != nil {
					label = route(r)
				}
				ri := httpRequestInfo(r)
				End(span, &ri, label, code)
				if owned {
					sw.release()
				}
			}()
			next.ServeHTTP(sw, r)
			done = true
		})
	}
}

func httpRequestInfo(r *http.Request) RequestInfo {
	ri := RequestInfo{Method: r.Method, Host: r.Host, RemoteAddr: r.RemoteAddr, Scheme: "http"}
	if r.URL != nil {
		ri.Path = r.URL.Path
	}
	if r.TLS != nil {
		ri.Scheme = "https"
	}
	switch {
	case r.ProtoMajor == 2:
		ri.Proto = "2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		ri.Proto = "1.1"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		ri.Proto = "1.0"
	}
	return ri
}
