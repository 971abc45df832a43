package serve

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/tracing"
)

// A known parent: every test request carries it.
const (
	parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpan  = "00f067aa0ba902b7"
	traceparent = "00-" + parentTrace + "-" + parentSpan + "-01"
)

// syncBuf is an access log sink safe for the server's flusher and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tracedServer is `hotpath serve` on one engine with spans going to an
// in-memory exporter.
type tracedServer struct {
	base   string
	exp    *tracetest.InMemoryExporter
	p      *tracing.Provider
	access *syncBuf
}

// startTraced runs serve.New(cfg, engine, grpc) with an in-memory exporter
// until the test ends.
func startTraced(t *testing.T, engine string, grpc bool, cfg server.Config) *tracedServer {
	t.Helper()
	return startTracedOpts(t, Options{Engine: engine, GRPC: grpc}, cfg)
}

// startTracedOpts is startTraced with more Options (Tracing and AccessLog
// are set here).
func startTracedOpts(t *testing.T, o Options, cfg server.Config) *tracedServer {
	t.Helper()
	return startTracedSampler(t, o, cfg, "parentbased_always_on", "")
}

// startTracedSampler is startTracedOpts with OTEL_TRACES_SAMPLER sampler
// and OTEL_TRACES_SAMPLER_ARG arg.
func startTracedSampler(t *testing.T, o Options, cfg server.Config, sampler, arg string) *tracedServer {
	t.Helper()
	ts := &tracedServer{exp: tracetest.NewInMemoryExporter(), access: &syncBuf{}}
	var err error
	ts.p, err = tracing.New(context.Background(), tracing.Config{Exporter: ts.exp, Sampler: sampler, SamplerArg: arg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:0", server.AdminOff
	o.Tracing, o.AccessLog = ts.p, ts.access
	e, err := New(cfg, o)
	if err != nil {
		ts.p.Shutdown(context.Background())
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		ts.p.Shutdown(context.Background())
		t.Fatal(err)
	}
	ts.base = "http://" + e.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := ts.p.Shutdown(context.Background()); err != nil {
			t.Errorf("tracing shutdown: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return ts
}

// do sends one request with the known traceparent and returns the response
// (body read and closed).
func (ts *tracedServer) do(t *testing.T, method, path, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.base+path, rb)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", traceparent)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// span waits (within 3 s) for an exported span that match accepts.
func (ts *tracedServer) span(t *testing.T, match func(sdktrace.ReadOnlySpan) bool) tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if err := ts.p.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, s := range ts.exp.GetSpans() {
			if match(s.Snapshot()) {
				return s
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range ts.exp.GetSpans() {
				names = append(names, s.Name)
			}
			t.Fatalf("no matching span among %q", names)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attrOf(s tracetest.SpanStub, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// serverSpanFor matches the SERVER span of a request for path answered
// with code.
func serverSpanFor(path string, code int) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool {
		if s.SpanKind() != trace.SpanKindServer {
			return false
		}
		n := 0
		for _, kv := range s.Attributes() {
			if kv.Key == "url.path" && kv.Value.AsString() == path || kv.Key == "http.response.status_code" && kv.Value.AsInt64() == int64(code) {
				n++
			}
		}
		return n == 2
	}
}

// checkHTTPSpan asserts the SERVER span of a request that carried the known
// traceparent: its trace, parent, name, status and the HTTP attributes.
func checkHTTPSpan(t *testing.T, s tracetest.SpanStub, name, route, path string, code int) {
	t.Helper()
	if s.SpanKind != trace.SpanKindServer {
		t.Errorf("%s: kind %v, want server", name, s.SpanKind)
	}
	if got := s.SpanContext.TraceID().String(); got != parentTrace {
		t.Errorf("%s: trace %s, want the incoming %s", name, got, parentTrace)
	}
	if got := s.Parent.SpanID().String(); got != parentSpan || !s.Parent.IsRemote() {
		t.Errorf("%s: parent %s (remote %v), want the incoming %s", name, got, s.Parent.IsRemote(), parentSpan)
	}
	if s.Name != name {
		t.Errorf("span name %q, want %q", s.Name, name)
	}
	want := map[attribute.Key]string{
		"http.request.method":      strings.Fields(name)[0],
		"url.path":                 path,
		"server.address":           "127.0.0.1",
		"network.protocol.version": "1.1",
		"client.address":           "127.0.0.1",
	}
	for k, v := range want {
		if got, ok := attrOf(s, k); !ok || got.Emit() != v {
			t.Errorf("%s: %s = %q, want %q", name, k, got.Emit(), v)
		}
	}
	if got, ok := attrOf(s, "http.response.status_code"); !ok || got.AsInt64() != int64(code) {
		t.Errorf("%s: http.response.status_code = %v, want %d", name, got.Emit(), code)
	}
	if got, ok := attrOf(s, "http.route"); route == "" && ok || route != "" && got.AsString() != route {
		t.Errorf("%s: http.route = %q (set %v), want %q", name, got.AsString(), ok, route)
	}
	if wantErr := code >= 500; (s.Status.Code == codes.Error) != wantErr {
		t.Errorf("%s: status %v, want error %v", name, s.Status.Code, wantErr)
	}
}

// Every engine: a SERVER span per request with the incoming parent and the
// HTTP attributes, refusals included, the trace ID in the access log beside
// the request ID, and traceparent in responses when configured.
func TestTraceEachEngine(t *testing.T) {
	for _, engine := range Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			format := "text"
			if engine == "fasthttp" {
				format = "json" // both formats, on some engine
			}
			ts := startTraced(t, engine, false, server.Config{
				AuthTokens: []string{"s3cret"}, AuthRoutes: []string{"/echo"},
				MaxBodyBytes: 64, RequestTimeout: 200 * time.Millisecond,
				TraceResponseHeader: true, AccessLog: true, AccessLogFormat: format,
			})
			auth := map[string]string{"Authorization": "Bearer s3cret"}
			tests := []struct {
				name, method, path, body string
				hdr                      map[string]string
				code                     int
				span, route              string
			}{
				{"matched route", "GET", "/time", "", nil, 200, "GET /time", "/time"},
				{"no route", "GET", "/nope", "", nil, 404, "GET", ""},
				{"401 refused by auth", "POST", "/echo", "hi", nil, 401, "POST /echo", "/echo"},
				{"413 body too large", "POST", "/echo", strings.Repeat("x", 100), auth, 413, "POST /echo", "/echo"},
				{"503 request timeout", "GET", "/delay?ms=2000", "", nil, 503, "GET /delay", "/delay"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					resp, body := ts.do(t, tc.method, tc.path, tc.body, tc.hdr)
					if resp.StatusCode != tc.code {
						t.Fatalf("%s %s: %d %q, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
					}
					path, _, _ := strings.Cut(tc.path, "?")
					s := ts.span(t, serverSpanFor(path, tc.code))
					checkHTTPSpan(t, s, tc.span, tc.route, path, tc.code)
					// --trace-response-header: the server span's own context.
					want := "00-" + parentTrace + "-" + s.SpanContext.SpanID().String() + "-01"
					if got := resp.Header.Get("Traceparent"); got != want {
						t.Errorf("response traceparent %q, want %q", got, want)
					}
					id := resp.Header.Get("X-Request-Id")
					if id == "" {
						t.Fatal("no X-Request-ID")
					}
					// The access log flushes every second; wait for the line.
					deadline := time.Now().Add(3 * time.Second)
					for {
						line := lineWith(ts.access.String(), id)
						if line != "" {
							if !strings.Contains(line, parentTrace) || !strings.Contains(line, "trace_id") {
								t.Errorf("access log line without the trace ID: %s", line)
							}
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("no access log line with request ID %s in %q", id, ts.access.String())
						}
						time.Sleep(20 * time.Millisecond)
					}
				})
			}
		})
	}
}

func lineWith(log, s string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// Shed requests (503 at --max-inflight) are spans too, and without
// --trace-response-header no response carries traceparent.
func TestTraceShedAndNoResponseHeader(t *testing.T) {
	for _, engine := range Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ts := startTraced(t, engine, false, server.Config{MaxInFlight: 1})
			resp, _ := ts.do(t, "GET", "/time", "", nil)
			if resp.StatusCode != 200 || resp.Header.Get("Traceparent") != "" {
				t.Fatalf("GET /time: %d, traceparent %q; want 200 and none", resp.StatusCode, resp.Header.Get("Traceparent"))
			}
			slow := make(chan struct{})
			go func() {
				defer close(slow)
				r, err := http.Get(ts.base + "/delay?ms=1500")
				if err == nil {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
				}
			}()
			deadline := time.Now().Add(3 * time.Second)
			for {
				resp, _ := ts.do(t, "GET", "/json", "", nil)
				if resp.StatusCode == 503 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("never shed while /delay was in flight")
				}
				time.Sleep(5 * time.Millisecond)
			}
			s := ts.span(t, serverSpanFor("/json", 503))
			checkHTTPSpan(t, s, "GET /json", "/json", "/json", 503)
			<-slow
		})
	}
}

// freePort is a 127.0.0.1 port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// gRPC on the shared port: otelgrpc's SERVER span with the incoming parent
// and rpc.* attributes; and the JSON gateway: one trace, the HTTP span the
// parent of the gRPC span.
func TestTraceGRPCAndGateway(t *testing.T) {
	for _, engine := range GRPCEngines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ts := startTraced(t, engine, true, server.Config{})

			// A transcoded GET /v1/time.
			resp, body := ts.do(t, "GET", "/v1/time", "", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET /v1/time: %d %q", resp.StatusCode, body)
			}
			httpSpan := ts.span(t, serverSpanFor("/v1/time", 200))
			checkHTTPSpan(t, httpSpan, "GET /v1/", "/v1/", "/v1/time", 200)
			rpcSpan := ts.span(t, func(s sdktrace.ReadOnlySpan) bool {
				return s.Name() == "hotpath.v1.TimeService/Now" && s.Parent().SpanID() == httpSpan.SpanContext.SpanID()
			})
			if rpcSpan.SpanContext.TraceID() != httpSpan.SpanContext.TraceID() || rpcSpan.SpanKind != trace.SpanKindServer {
				t.Errorf("gateway gRPC span: trace %s kind %v, want trace %s, server", rpcSpan.SpanContext.TraceID(), rpcSpan.SpanKind, httpSpan.SpanContext.TraceID())
			}
			checkRPCAttrs(t, rpcSpan)

			// A gRPC call over grpc-go's transport.
			conn, err := grpc.NewClient(strings.TrimPrefix(ts.base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "traceparent", traceparent), 3*time.Second)
			defer cancel()
			if _, err := hotpathv1.NewEchoServiceClient(conn).Echo(ctx, &hotpathv1.EchoRequest{Message: "hi"}); err != nil {
				t.Fatal(err)
			}
			s := ts.span(t, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "hotpath.v1.EchoService/Echo" })
			if s.SpanContext.TraceID().String() != parentTrace || s.Parent.SpanID().String() != parentSpan || s.SpanKind != trace.SpanKindServer {
				t.Errorf("gRPC span: trace %s parent %s kind %v, want %s %s server", s.SpanContext.TraceID(), s.Parent.SpanID(), s.SpanKind, parentTrace, parentSpan)
			}
			checkRPCAttrs(t, s)
		})
	}
}

func checkRPCAttrs(t *testing.T, s tracetest.SpanStub) {
	t.Helper()
	if v, _ := attrOf(s, "rpc.system.name"); v.AsString() != "grpc" {
		t.Errorf("%s: rpc.system.name = %q", s.Name, v.Emit())
	}
	if v, _ := attrOf(s, "rpc.method"); v.AsString() != s.Name {
		t.Errorf("%s: rpc.method = %q", s.Name, v.Emit())
	}
	if s.Status.Code == codes.Error {
		t.Errorf("%s: status %v", s.Name, s.Status)
	}
}

// Rate-limited requests (429) are spans with their status on every engine.
func TestTraceRateLimited(t *testing.T) {
	for _, engine := range Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ts := startTraced(t, engine, false, server.Config{RateLimit: 0.01, RateBurst: 1})
			if resp, _ := ts.do(t, "GET", "/time", "", nil); resp.StatusCode != 200 {
				t.Fatalf("first request: %d", resp.StatusCode)
			}
			if resp, _ := ts.do(t, "GET", "/time", "", nil); resp.StatusCode != 429 {
				t.Fatalf("second request: %d, want 429", resp.StatusCode)
			}
			checkHTTPSpan(t, ts.span(t, serverSpanFor("/time", 429)), "GET /time", "/time", "/time", 429)
		})
	}
}
