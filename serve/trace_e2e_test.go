package serve

import (
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// otlpSink is an in-process OTLP collector: it keeps every span it is sent
// with its resource's service.name.
type otlpSink struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []sinkSpan
}

type sinkSpan struct {
	service string
	span    *tracepb.Span
}

func (s *otlpSink) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		svc := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				svc = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s.spans = append(s.spans, sinkSpan{svc, sp})
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (s *otlpSink) get() []sinkSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkSpan(nil), s.spans...)
}

// ServeHTTP is the OTLP/HTTP receiver: a protobuf ExportTraceServiceRequest
// POSTed to /v1/traces.
func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	resp, _ := s.Export(r.Context(), &req)
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// startSink starts a receiver for proto and returns its endpoint URL.
func startSink(t *testing.T, proto string, sink *otlpSink) string {
	t.Helper()
	if proto == "http/protobuf" {
		srv := httptest.NewServer(sink)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(g, sink)
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	return "http://" + ln.Addr().String()
}

// clearOTelEnv keeps the host's OTEL_* variables out of a test.
func clearOTelEnv(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SERVICE_NAME",
		"OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"} {
		t.Setenv(k, "")
	}
}

// runTracedServe runs `hotpath serve`'s wiring (serve.New from a Config, as the
// CLI does) and returns its base URL and a stop function that shuts it
// down and returns Run's error and how long the shutdown took.
func runTracedServe(t *testing.T, cfg server.Config, o Options) (string, func() (error, time.Duration)) {
	t.Helper()
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:0", server.AdminOff
	e, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	var rerr error
	var took time.Duration
	stop := func() (error, time.Duration) {
		once.Do(func() {
			start := time.Now()
			cancel()
			rerr = <-done
			took = time.Since(start)
			http.DefaultClient.CloseIdleConnections()
		})
		return rerr, took
	}
	t.Cleanup(func() { stop() })
	return "http://" + e.Addr().String(), stop
}

// End to end over real OTLP: the configured endpoint receives the request
// spans, with the service name and HTTP attributes, flushed at shutdown.
func TestTraceOTLPEndToEnd(t *testing.T) {
	clearOTelEnv(t)
	tests := []struct {
		proto, engine string
		grpc          bool // gRPC on the port: the provider serve shares with it
	}{
		{"grpc", "nethttp", true},
		{"http/protobuf", "fasthttp", false},
		{"http/protobuf", "nbio", false},
	}
	for _, tc := range tests {
		t.Run(tc.proto+"/"+tc.engine, func(t *testing.T) {
			sink := &otlpSink{}
			ep := startSink(t, tc.proto, sink)
			base, stop := runTracedServe(t, server.Config{OTLPEndpoint: ep, OTLPProtocol: tc.proto, ServiceName: "e2e"}, Options{Engine: tc.engine, GRPC: tc.grpc})
			req, _ := http.NewRequest("GET", base+"/time", nil)
			req.Header.Set("Traceparent", traceparent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err, _ := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			var got *sinkSpan
			for _, s := range sink.get() {
				if s.span.GetName() == "GET /time" {
					got = &s
				}
			}
			if got == nil {
				t.Fatalf("no GET /time span received; got %v", sink.get())
			}
			sp := got.span
			if got.service != "e2e" || hex.EncodeToString(sp.GetTraceId()) != parentTrace || hex.EncodeToString(sp.GetParentSpanId()) != parentSpan || sp.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("span: service %q trace %x parent %x kind %v", got.service, sp.GetTraceId(), sp.GetParentSpanId(), sp.GetKind())
			}
			attrs := map[string]*commonpb.AnyValue{}
			for _, kv := range sp.GetAttributes() {
				attrs[kv.GetKey()] = kv.GetValue()
			}
			for k, v := range map[string]string{"http.request.method": "GET", "http.route": "/time", "url.path": "/time", "server.address": "127.0.0.1", "network.protocol.version": "1.1", "client.address": "127.0.0.1"} {
				if attrs[k].GetStringValue() != v {
					t.Errorf("%s = %v, want %q", k, attrs[k], v)
				}
			}
			if attrs["http.response.status_code"].GetIntValue() != 200 {
				t.Errorf("http.response.status_code = %v", attrs["http.response.status_code"])
			}
		})
	}
}

// A collector that is not there changes no response, and shutdown stays
// bounded (TestMain's goleak then finds no exporter goroutine left).
func TestTraceCollectorDown(t *testing.T) {
	clearOTelEnv(t)
	for _, tc := range []struct{ proto, engine string }{{"grpc", "nethttp"}, {"http/protobuf", "fasthttp"}, {"grpc", "nbio"}} {
		t.Run(tc.proto+"/"+tc.engine, func(t *testing.T) {
			base, stop := runTracedServe(t, server.Config{OTLPEndpoint: "http://" + freePort(t), OTLPProtocol: tc.proto}, Options{Engine: tc.engine, GRPC: tc.engine != "nbio"})
			for i := range 50 {
				resp, err := http.Get(base + "/json")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != string(service.JSONBody) {
					t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
				}
			}
			err, took := stop()
			if err != nil {
				t.Errorf("Run: %v", err)
			}
			if took > 10*time.Second { // the flush is bounded by tracing.DefaultShutdownTimeout (5 s)
				t.Errorf("shutdown took %v", took)
			}
		})
	}
}
