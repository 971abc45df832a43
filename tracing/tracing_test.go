package tracing

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// otelVars are cleared by clearEnv so the host's environment cannot change
// a test's outcome.
var otelVars = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SERVICE_NAME",
	"OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
}

func clearEnv(t *testing.T, set map[string]string) {
	t.Helper()
	for _, k := range otelVars {
		t.Setenv(k, set[k])
	}
}

func TestParseSampler(t *testing.T) {
	tests := []struct {
		name, arg string
		want      string // Sampler.Description(); "" = error
	}{
		{"always_on", "", "AlwaysOnSampler"},
		{"always_off", "", "AlwaysOffSampler"},
		{"parentbased_always_on", "", "ParentBased{root:AlwaysOnSampler"},
		{"parentbased_always_off", "", "ParentBased{root:AlwaysOffSampler"},
		{"traceidratio", "0.25", "TraceIDRatioBased{0.25}"},
		{"parentbased_traceidratio", "0.01", "ParentBased{root:TraceIDRatioBased{0.01}"},
		{"parentbased_traceidratio", "", "ParentBased{root:TraceIDRatioBased{1}"}, // no ratio: 1
		{"traceidratio", "0", "TraceIDRatioBased{0}"},
		// Refused, so a typo is not silently "sample everything".
		{"traceidratio", "1.5", ""},
		{"traceidratio", "-0.1", ""},
		{"traceidratio", "NaN", ""},
		{"traceidratio", "ten percent", ""},
		{"traceidratio", " 0.5", ""},
		{"always_on", "0.5", ""}, // an argument the sampler ignores is a mistake
		{"sometimes", "", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		s, err := ParseSampler(tc.name, tc.arg)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseSampler(%q, %q) = %s, want an error", tc.name, tc.arg, s.Description())
		case tc.want != "" && err != nil:
			t.Errorf("ParseSampler(%q, %q): %v", tc.name, tc.arg, err)
		case tc.want != "" && !strings.HasPrefix(s.Description(), tc.want):
			t.Errorf("ParseSampler(%q, %q) = %s, want %s…", tc.name, tc.arg, s.Description(), tc.want)
		}
	}
}

func FuzzParseSampler(f *testing.F) {
	for _, s := range [][2]string{{"traceidratio", "0.5"}, {"always_on", ""}, {"parentbased_traceidratio", "1e-3"}, {"x", "NaN"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, arg string) {
		s, err := ParseSampler(name, arg)
		if (s == nil) == (err == nil) {
			t.Fatalf("ParseSampler(%q, %q) = %v, %v: want exactly one", name, arg, s, err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n") && !strings.ContainsAny(name+arg, "\n") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		env  map[string]string
		want bool
	}{
		{"nothing configured: off", Config{}, nil, false},
		{"a sampler alone does not turn it on", Config{Sampler: "always_on"}, nil, false},
		{"endpoint field", Config{Endpoint: "http://127.0.0.1:4318"}, nil, true},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", Config{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Config{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{"OTEL_SDK_DISABLED wins over the env endpoint", Config{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{"OTEL_TRACES_EXPORTER=none wins over the env endpoint", Config{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"the endpoint field wins over OTEL_SDK_DISABLED", Config{Endpoint: "http://c:4318"}, map[string]string{"OTEL_SDK_DISABLED": "true"}, true},
		{"an exporter (tests)", Config{Exporter: tracetest.NewInMemoryExporter()}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t, tc.env)
			if got := tc.cfg.Enabled(); got != tc.want {
				t.Errorf("Enabled() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		flag string // "" = valid
	}{
		{Config{}, ""},
		{Config{Endpoint: "http://127.0.0.1:4317", Protocol: ProtocolGRPC, Sampler: "parentbased_traceidratio", SamplerArg: "0.1"}, ""},
		{Config{Endpoint: "https://collector.example:4318/v1/traces", Protocol: ProtocolHTTP}, ""},
		{Config{SamplerArg: "0.5"}, ""}, // ratio alone: parentbased_traceidratio
		{Config{Endpoint: "collector:4317"}, "otlp-endpoint"},
		{Config{Endpoint: "ftp://collector"}, "otlp-endpoint"},
		{Config{Endpoint: "http://"}, "otlp-endpoint"},
		{Config{Protocol: "http/json"}, "otlp-protocol"},
		{Config{Sampler: "maybe"}, "trace-sampler"},
		{Config{SamplerArg: "2"}, "trace-sampler"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		switch {
		case tc.flag == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.flag != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.flag+":")):
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.flag)
		}
	}
}

// The environment is read when the fields are empty, and refused when bad.
func TestNewFromEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		env     map[string]string
		wantErr string
		sampler string
		service string
	}{
		{"defaults", Config{}, nil, "", "ParentBased{root:AlwaysOnSampler", "hotpath"},
		{"env sampler", Config{}, map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}, "", "TraceIDRatioBased{0.5}", ""},
		{"field sampler wins", Config{Sampler: "always_off"}, map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, "", "AlwaysOffSampler", ""},
		{"bad env sampler", Config{}, map[string]string{"OTEL_TRACES_SAMPLER": "often"}, "OTEL_TRACES_SAMPLER", "", ""},
		{"OTEL_SERVICE_NAME", Config{}, map[string]string{"OTEL_SERVICE_NAME": "api"}, "", "", "api"},
		{"OTEL_RESOURCE_ATTRIBUTES", Config{}, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=edge,team=core"}, "", "", "edge"},
		{"OTEL_SERVICE_NAME wins over the attributes", Config{}, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=edge", "OTEL_SERVICE_NAME": "api"}, "", "", "api"},
		{"the field wins over both", Config{ServiceName: "front"}, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=edge", "OTEL_SERVICE_NAME": "api"}, "", "", "front"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t, tc.env)
			exp := tracetest.NewInMemoryExporter()
			tc.cfg.Exporter = exp
			p, err := New(context.Background(), tc.cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			if tc.sampler != "" {
				if got := p.sampler.Description(); !strings.HasPrefix(got, "LinkedSampled{"+tc.sampler) {
					t.Errorf("sampler %s, want LinkedSampled{%s…", got, tc.sampler)
				}
			}
			if tc.service != "" {
				_, span := p.TracerProvider().Tracer("t").Start(context.Background(), "s", trace.WithNewRoot())
				span.End()
				if err := p.ForceFlush(context.Background()); err != nil {
					t.Fatal(err)
				}
				spans := exp.GetSpans()
				if len(spans) != 1 {
					t.Fatalf("%d spans exported, want 1", len(spans))
				}
				if v, _ := spans[0].Resource.Set().Value(semconv.ServiceNameKey); v.AsString() != tc.service {
					t.Errorf("service.name %q, want %q", v.AsString(), tc.service)
				}
				if v, ok := spans[0].Resource.Set().Value(semconv.ServiceVersionKey); !ok || v.AsString() == "" {
					t.Errorf("no service.version")
				}
			}
		})
	}
}

// blockingExporter holds every export until release is closed.
type blockingExporter struct {
	release chan struct{}
	mu      sync.Mutex
	got     int
}

func (e *blockingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	select {
	case <-e.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	e.got += len(spans)
	e.mu.Unlock()
	return nil
}
func (e *blockingExporter) Shutdown(context.Context) error { return nil }

// A stuck exporter never blocks the span's caller: past the queue's size,
// spans are dropped and counted, exactly.
func TestDropsCounted(t *testing.T) {
	clearEnv(t, nil)
	exp := &blockingExporter{release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	p, err := New(context.Background(), Config{Exporter: exp, MaxQueueSize: 4, Sampler: "always_on"}, reg)
	if err != nil {
		t.Fatal(err)
	}
	tr := p.TracerProvider().Tracer("t")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			_, span := tr.Start(context.Background(), "s")
			span.End()
		}
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("ending spans blocked on a stuck exporter")
	}
	if got := testutil.ToFloat64(p.dropped); got != 16 {
		t.Errorf("hotpath_trace_spans_dropped_total = %v, want 16 (20 ended, 4 held)", got)
	}
	close(exp.release)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exp.got != 4 {
		t.Errorf("%d spans exported, want 4", exp.got)
	}
	if n, err := testutil.GatherAndCount(reg, "hotpath_trace_spans_dropped_total", "hotpath_trace_spans_export_failed_total"); err != nil || n != 2 {
		t.Errorf("registered metrics: %d, %v", n, err)
	}
}

// A collector that is not there: ending spans never blocks, export failures
// are counted, and Shutdown returns by its deadline leaving no goroutine.
func TestClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		t.Run(proto, func(t *testing.T) {
			clearEnv(t, nil)
			p, err := New(context.Background(), Config{Endpoint: "http://" + addr, Protocol: proto}, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			tr := p.TracerProvider().Tracer("t")
			for range 100 {
				_, span := tr.Start(context.Background(), "s")
				span.End()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_ = p.Shutdown(ctx) // an error or not: the collector may refuse fast or be retried
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Shutdown took %v with a 500ms deadline", d)
			}
		})
	}
}

// A bad value in the environment is refused, naming the variable, never
// replaced by a default.
func TestNewRefusesBadEnvironment(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4317"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://c"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "often"}, "OTEL_TRACES_SAMPLER:"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG:"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, "OTEL_TRACES_SAMPLER_ARG:"},
	}
	for _, tc := range tests {
		clearEnv(t, tc.env)
		p, err := New(context.Background(), Config{}, nil)
		if err == nil {
			p.Shutdown(context.Background())
			t.Errorf("%v: no error", tc.env)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want it to start with %s", tc.env, err, tc.want)
		}
	}
}

// ContextWithIDs gives the next root span started from the context (and
// only that one) the preset IDs; children and later roots get new ones.
func TestContextWithIDs(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p, err := New(context.Background(), Config{Exporter: exp, Sampler: "always_on"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	tid, sid := NewIDs()
	if !tid.IsValid() || !sid.IsValid() {
		t.Fatalf("NewIDs: %v %v", tid, sid)
	}
	tr := p.TracerProvider().Tracer("test")
	ctx, root := tr.Start(p.ContextWithIDs(context.Background(), tid, sid), "root")
	_, child := tr.Start(ctx, "child")
	_, again := tr.Start(ctx, "another root", trace.WithNewRoot())
	if sc := root.SpanContext(); sc.TraceID() != tid || sc.SpanID() != sid {
		t.Errorf("root %v, want the preset %v %v", sc, tid, sid)
	}
	if sc := child.SpanContext(); sc.TraceID() != tid || sc.SpanID() == sid {
		t.Errorf("child %v: want the trace with a new span ID", sc)
	}
	if sc := again.SpanContext(); sc.TraceID() == tid || sc.SpanID() == sid {
		t.Errorf("second root %v reused the preset IDs", sc)
	}
}

// TestLinkedSampling: whatever the configured sampler, a root span linked
// to a sampled span is sampled (the ingest batch span of a sampled
// request's event); a root without a sampled link, and a child, are the
// configured sampler's to decide.
func TestLinkedSampling(t *testing.T) {
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{2}, SpanID: trace.SpanID{2}})
	for _, sc := range []struct{ name, arg string }{
		{"always_off", ""},
		{"parentbased_always_off", ""},
		{"traceidratio", "0"},
		{"parentbased_traceidratio", "0"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			p, err := New(context.Background(), Config{Exporter: exp, Sampler: sc.name, SamplerArg: sc.arg}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			tr := p.TracerProvider().Tracer("test")
			for _, tc := range []struct {
				name   string
				parent trace.SpanContext // zero: a root
				links  []trace.SpanContext
				want   bool
			}{
				{"root linked to a sampled span", trace.SpanContext{}, []trace.SpanContext{unsampled, sampled}, true},
				{"root linked to unsampled spans only", trace.SpanContext{}, []trace.SpanContext{unsampled}, false},
				{"root without links", trace.SpanContext{}, nil, false},
				{"child of an unsampled span, linked to a sampled one", unsampled, []trace.SpanContext{sampled}, false},
			} {
				ctx := context.Background()
				if tc.parent.IsValid() {
					ctx = trace.ContextWithRemoteSpanContext(ctx, tc.parent)
				}
				var links []trace.Link
				for _, l := range tc.links {
					links = append(links, trace.Link{SpanContext: l})
				}
				_, span := tr.Start(ctx, tc.name, trace.WithLinks(links...))
				if got := span.SpanContext().IsSampled(); got != tc.want {
					t.Errorf("%s: sampled %v, want %v", tc.name, got, tc.want)
				}
				span.End()
			}
		})
	}
}
