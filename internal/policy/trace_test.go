package policy

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	tpTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	tpSpan  = "00f067aa0ba902b7"
	tp      = "00-" + tpTrace + "-" + tpSpan + "-01"
)

// newSyncTracer is a provider that exports each span as it ends.
func newSyncTracer(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	p := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { p.Shutdown(t.Context()) })
	return p, exp
}

func attrMap(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestRoutePath(t *testing.T) {
	for in, want := range map[string]string{
		"GET /time":              "/time",
		"/time":                  "/time",
		"/v1/":                   "/v1/",
		"GET example.com/x/{id}": "/x/{id}",
		"example.com/":           "/",
		"POST  /echo":            "/echo",
		"":                       "",
	} {
		if got := RoutePath(in); got != want {
			t.Errorf("RoutePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRoutePath(f *testing.F) {
	for _, s := range []string{"GET /time", "/v1/", "GET host/x", " ", "a b/c d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := RoutePath(in)
		if !strings.HasSuffix(in, got) {
			t.Fatalf("RoutePath(%q) = %q, not a suffix", in, got)
		}
		if strings.Contains(in, "/") && !strings.HasPrefix(got, "/") {
			t.Fatalf("RoutePath(%q) = %q, not a path", in, got)
		}
	})
}

func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080", "[::1]:80", "example.com", "h:99999", "::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		host, port := splitHostPort(in)
		if port < 0 || port > 65535 {
			t.Fatalf("splitHostPort(%q) port %d", in, port)
		}
		if len(host) > len(in) {
			t.Fatalf("splitHostPort(%q) host %q", in, host)
		}
	})
}

// The carrier finds the propagators' headers by their canonical keys
// without allocating, and behaves as http.Header for the rest.
func TestHeaderCarrier(t *testing.T) {
	h := http.Header{"Traceparent": {tp}, "Baggage": {"k=v"}, "X-Other": {"o"}}
	c := HeaderCarrier(h)
	for k, want := range map[string]string{"traceparent": tp, "baggage": "k=v", "tracestate": "", "x-other": "o"} {
		if got := c.Get(k); got != want {
			t.Errorf("Get(%q) = %q, want %q", k, got, want)
		}
	}
	c.Set("tracestate", "a=b")
	c.Set("x-new", "n")
	if h.Get("Tracestate") != "a=b" || h.Get("X-New") != "n" {
		t.Errorf("Set: %v", h)
	}
	if len(c.Keys()) != 5 {
		t.Errorf("Keys() = %v", c.Keys())
	}
	if !raceEnabled {
		var a, b string
		if n := testing.AllocsPerRun(100, func() { a, b = c.Get("traceparent"), c.Get("baggage") }); n != 0 || a == "" || b == "" {
			t.Errorf("Get allocates %.0f times", n)
		}
	}
}

// Off, the chain has no Trace step at all.
func TestTraceOffIsAbsent(t *testing.T) {
	p, err := Build(Config{TraceResponseHeader: true}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Trace != nil || p.httpStep(StepTrace, nil, nil) != nil {
		t.Fatal("tracing off, yet the chain has a Trace step")
	}
}

// Through the whole default chain: the span's parent, name, attributes and
// status for answered, refused and panicking requests; the span reaches the
// handler (and the deadline still does), traceparent goes out when asked,
// and the access log carries the trace ID.
func TestTraceInChain(t *testing.T) {
	tpr, exp := newSyncTracer(t)
	var access syncBuf
	p, err := Build(Config{
		Tracer: tpr, TraceResponseHeader: true,
		AccessLog: true, AccessLogJSON: true, AccessLogOut: &access,
		AuthTokens: []string{"tok"}, AuthRoutes: []string{"/secret"},
		RequestTimeout: time.Second, MaxBodyBytes: 1 << 10,
	}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	var seen trace.SpanContext
	var deadline bool
	mux.Handle("GET /time", Labeled("GET /time", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = trace.SpanContextFromContext(r.Context())
		_, deadline = r.Context().Deadline()
		io.WriteString(w, "ok")
	})))
	mux.Handle("GET /secret", Labeled("GET /secret", okHandler))
	mux.Handle("GET /boom", Labeled("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	route := func(r *http.Request) string { _, p := mux.Handler(r); return p }
	h := p.Middleware(slog.New(slog.DiscardHandler), route)(mux)

	tests := []struct {
		name, method, path string
		code               int
		span, route        string
	}{
		{"answered", "GET", "/time", 200, "GET /time", "/time"},
		{"refused by auth", "GET", "/secret", 401, "GET /secret", "/secret"},
		{"no route", "GET", "/none", 404, "GET", ""},
		{"panic", "GET", "/boom", 500, "GET /boom", "/boom"},
		{"unknown method", "PURGE", "/time", 405, "HTTP", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("Traceparent", tp)
			rec := serve(h, req)
			if rec.Code != tc.code {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.code)
			}
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name != tc.span || s.SpanKind != trace.SpanKindServer || s.SpanContext.TraceID().String() != tpTrace || s.Parent.SpanID().String() != tpSpan {
				t.Errorf("span %q kind %v trace %s parent %s", s.Name, s.SpanKind, s.SpanContext.TraceID(), s.Parent.SpanID())
			}
			a := attrMap(s)
			if a["http.response.status_code"].AsInt64() != int64(tc.code) || a["url.path"].AsString() != tc.path {
				t.Errorf("attributes %v", a)
			}
			if got, ok := a["http.route"]; tc.route != "" && got.AsString() != tc.route || tc.route == "" && ok {
				t.Errorf("http.route = %q, want %q", got.AsString(), tc.route)
			}
			if tc.method == "PURGE" && (a["http.request.method"].AsString() != "_OTHER" || a["http.request.method_original"].AsString() != "PURGE") {
				t.Errorf("unknown method attributes %v", a)
			}
			if (s.Status.Code == codes.Error) != (tc.code >= 500) {
				t.Errorf("status %v for %d", s.Status, tc.code)
			}
			want := "00-" + tpTrace + "-" + s.SpanContext.SpanID().String() + "-01"
			if got := rec.Header().Get("Traceparent"); got != want {
				t.Errorf("response traceparent %q, want %q", got, want)
			}
			if tc.name == "answered" && (seen.SpanID() != s.SpanContext.SpanID() || !deadline) {
				t.Errorf("handler saw span %s (deadline %v), want %s", seen.SpanID(), deadline, s.SpanContext.SpanID())
			}
		})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(access.String()), "\n")
	if len(lines) != len(tests) {
		t.Fatalf("%d access log lines, want %d", len(lines), len(tests))
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["trace_id"] != tpTrace || rec["request_id"] == "" {
			t.Errorf("access log line without trace and request IDs: %s", l)
		}
	}
}

// Outside the default chain (no request state) the step still puts the
// span in the handler's context; the text access log prints trace_id, and
// without tracing no trace_id at all.
func TestTraceStandalone(t *testing.T) {
	tpr, exp := newSyncTracer(t)
	var seen trace.SpanContext
	h := NewTracer(tpr, nil, false).Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = trace.SpanContextFromContext(r.Context())
	}))
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Traceparent", tp)
	rec := serve(h, req)
	if s := exp.GetSpans(); len(s) != 1 || seen.SpanID() != s[0].SpanContext.SpanID() || rec.Header().Get("Traceparent") != "" {
		t.Fatalf("spans %v, handler saw %v, traceparent %q", s, seen, rec.Header().Get("Traceparent"))
	}

	for _, on := range []bool{true, false} {
		var out syncBuf
		l, err := NewAccessLogger(AccessLogConfig{Out: &out})
		if err != nil {
			t.Fatal(err)
		}
		l.traceIDs = on
		chain := Chain(RequestID(), NewTracer(tpr, nil, false).Middleware(nil), l.Middleware)(okHandler)
		serve(chain, req.Clone(req.Context()))
		l.Close()
		if got := strings.Contains(out.String(), "trace_id="+tpTrace); got != on {
			t.Errorf("tracing %v: text line %q", on, out.String())
		}
	}
}

// Sampled out: nothing is exported, yet the handler's context carries the
// trace (not sampled) so that calls it makes join it, and the response's
// traceparent says so.
func TestTraceSampledOut(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tpr := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.NeverSample()))
	defer tpr.Shutdown(t.Context())
	p, err := Build(Config{Tracer: tpr, TraceResponseHeader: true}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var seen trace.SpanContext
	h := p.Middleware(nil, nil)(Labeled("/time", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = trace.SpanContextFromContext(r.Context())
	})))
	rec := serve(h, httptest.NewRequest("GET", "/time", nil))
	if rec.Code != 200 || len(exp.GetSpans()) != 0 {
		t.Fatalf("%d, %d spans exported", rec.Code, len(exp.GetSpans()))
	}
	if !seen.IsValid() || seen.IsSampled() {
		t.Errorf("handler saw %v, want a valid, unsampled span context", seen)
	}
	if want := "00-" + seen.TraceID().String() + "-" + seen.SpanID().String() + "-00"; rec.Header().Get("Traceparent") != want {
		t.Errorf("traceparent %q, want %q", rec.Header().Get("Traceparent"), want)
	}
}
