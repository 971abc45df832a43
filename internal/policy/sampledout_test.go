package policy

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hotpath-dev/hotpath/tracing"
)

// tracedChain is the default chain with the Trace step from a
// *tracing.Provider (so with its Sampling) exporting to exp; the handler
// records the span it finds in its context.
func tracedChain(t *testing.T, sampler, arg string, h http.Handler) (*tracing.Provider, *tracetest.InMemoryExporter, http.Handler) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	p, err := tracing.New(context.Background(), tracing.Config{Exporter: exp, Sampler: sampler, SamplerArg: arg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	pol, err := Build(Config{Tracer: p.TracerProvider(), TraceSampling: p, TraceResponseHeader: true}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pol.Close() })
	if pol.Trace.sampling == nil {
		t.Fatal("Build ignored TraceSampling")
	}
	return p, exp, pol.Middleware(nil, nil)(Labeled("/time", h))
}

// A span the sampler drops never reaches the SDK, and the handler, its
// outgoing calls (traceparent) and its child spans still see what the
// SDK's non-recording span would carry.
func TestSampledOutWithoutSDK(t *testing.T) {
	t.Parallel()
	const parentState = "vendor=x"
	tests := []struct {
		name, sampler, arg string
		traceparent        string // "" : a root
		tracestate         string
	}{
		{"root, ratio 0", "traceidratio", "0", "", ""},
		{"root, parentbased ratio 0", "parentbased_traceidratio", "0", "", ""},
		{"root, always_off", "always_off", "", "", ""},
		{"unsampled parent, parentbased_always_on", "parentbased_always_on", "", "00-" + tpTrace + "-" + tpSpan + "-00", parentState},
		{"root, parentbased_always_off", "parentbased_always_off", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen trace.SpanContext
			var span trace.Span
			var child trace.Span
			p, exp, h := tracedChain(t, tc.sampler, tc.arg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				span = trace.SpanFromContext(r.Context())
				seen = span.SpanContext()
				_, child = span.TracerProvider().Tracer("test").Start(r.Context(), "child")
				child.End()
			}))
			req := httptest.NewRequest("GET", "/time", nil)
			if tc.traceparent != "" {
				req.Header.Set("Traceparent", tc.traceparent)
				req.Header.Set("Tracestate", tc.tracestate)
			}
			rec := serve(h, req)
			if err := p.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if rec.Code != 200 || len(exp.GetSpans()) != 0 {
				t.Fatalf("%d, %d spans exported, want none", rec.Code, len(exp.GetSpans()))
			}
			if _, ok := span.(*droppedSpan); !ok {
				t.Errorf("span %T, want the fast path's", span)
			}
			if !seen.IsValid() || seen.IsSampled() || span.IsRecording() {
				t.Errorf("handler saw %v (recording %v), want a valid, unsampled span context", seen, span.IsRecording())
			}
			if span.TracerProvider() != p.TracerProvider() {
				t.Errorf("TracerProvider %T, want the provider's", span.TracerProvider())
			}
			if child.SpanContext().TraceID() != seen.TraceID() {
				t.Errorf("child trace %s, want %s", child.SpanContext().TraceID(), seen.TraceID())
			}
			if tc.traceparent != "" {
				if seen.TraceID().String() != tpTrace || seen.SpanID().String() == tpSpan || seen.TraceState().String() != parentState {
					t.Errorf("span context %v, want the parent's trace and state with a new span ID", seen)
				}
			}
			if want := "00-" + seen.TraceID().String() + "-" + seen.SpanID().String() + "-00"; rec.Header().Get("Traceparent") != want {
				t.Errorf("traceparent %q, want %q", rec.Header().Get("Traceparent"), want)
			}
		})
	}
}

// A root span the ratio sampler keeps has the trace ID it was kept for:
// the SDK does not draw a new one (which would make the ratio r² and the
// decision inconsistent with the trace ID).
func TestSampledRootKeepsDecidedTraceID(t *testing.T) {
	t.Parallel()
	var seen []trace.SpanContext
	p, exp, h := tracedChain(t, "traceidratio", "0.5", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		span := trace.SpanFromContext(r.Context())
		seen = append(seen, span.SpanContext())
		// The fast path drops what the sampler drops; a span it hands to
		// the SDK was kept, and must stay kept.
		if _, dropped := span.(*droppedSpan); !dropped && !span.SpanContext().IsSampled() {
			t.Errorf("span %v: kept by the sampler, dropped by the SDK", span.SpanContext())
		}
	}))
	const n = 64
	for range n {
		serve(h, httptest.NewRequest("GET", "/time", nil))
	}
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	sampled := map[trace.TraceID]bool{}
	for _, sc := range seen {
		if sc.IsSampled() {
			sampled[sc.TraceID()] = true
		}
	}
	spans := exp.GetSpans()
	if len(spans) == 0 || len(spans) == n || len(spans) != len(sampled) {
		t.Fatalf("%d spans exported, %d requests sampled, of %d", len(spans), len(sampled), n)
	}
	for _, s := range spans {
		tid := s.SpanContext.TraceID()
		// traceidratio 0.5 keeps a trace ID whose low 8 bytes, >> 1, are below 2^62.
		if binary.BigEndian.Uint64(tid[8:16])>>1 >= 1<<62 || !sampled[tid] {
			t.Errorf("exported trace %s: not the one the sampler kept", tid)
		}
	}
}

// The IDs set aside for the request's root span serve it alone: a new
// root started in the handler gets its own.
func TestPresetIDsUsedOnce(t *testing.T) {
	t.Parallel()
	var outer, inner trace.SpanContext
	// Not 1, whose roots skip the decision (and the preset IDs) altogether.
	p, exp, h := tracedChain(t, "traceidratio", "0.999999", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outer = trace.SpanContextFromContext(r.Context())
		_, s := trace.SpanFromContext(r.Context()).TracerProvider().Tracer("test").Start(r.Context(), "new root", trace.WithNewRoot())
		inner = s.SpanContext()
		s.End()
	}))
	serve(h, httptest.NewRequest("GET", "/time", nil))
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(exp.GetSpans()) != 2 || !outer.IsSampled() || inner.TraceID() == outer.TraceID() || inner.SpanID() == outer.SpanID() {
		t.Errorf("%d spans; request %v, new root %v: want two traces", len(exp.GetSpans()), outer, inner)
	}
}

// spanKey was learnt, and a sampled-out Start makes one allocation (the
// context and span in one object) where the SDK makes two.
func TestSampledOutAllocs(t *testing.T) {
	if spanKey == nil {
		t.Fatal("spanKey not learnt from trace.SpanFromContext")
	}
	if raceEnabled {
		return // the race detector allocates
	}
	exp := tracetest.NewInMemoryExporter()
	p, err := tracing.New(context.Background(), tracing.Config{Exporter: exp, Sampler: "traceidratio", SamplerArg: "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	tr := NewTracer(p.TracerProvider(), nil, false)
	tr.useSampling(p)
	carrier := HeaderCarrier(http.Header{})
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		_, span := tr.Start(ctx, carrier, "GET")
		span.End()
	})
	if allocs != 1 {
		t.Errorf("%v allocations per sampled-out Start, want 1", allocs)
	}
}

// Roots go straight to the SDK only for samplers that keep every root.
func TestKeepsEveryRoot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sampler, arg string
		want         bool
	}{
		{"always_on", "", true},
		{"parentbased_always_on", "", true},
		{"traceidratio", "1", true},
		{"parentbased_traceidratio", "1", true},
		{"traceidratio", "0.999", false},
		{"parentbased_traceidratio", "0.5", false},
		{"always_off", "", false},
		{"parentbased_always_off", "", false},
	} {
		s, err := tracing.ParseSampler(tc.sampler, tc.arg)
		if err != nil {
			t.Fatal(err)
		}
		if got := keepsEveryRoot(s); got != tc.want {
			t.Errorf("%s %s: keepsEveryRoot = %v, want %v", tc.sampler, tc.arg, got, tc.want)
		}
	}
}
