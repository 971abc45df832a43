package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// kindSink is a memSink that names its kind (Kinder).
type kindSink struct {
	memSink
	kind string
}

func (s *kindSink) SinkKind() string { return s.kind }

// SinkDestination names a topic (Destinationer) for every kind: only a
// "kafka" span may carry it.
func (s *kindSink) SinkDestination() string { return "events" }

// ctxSink is a memSink that keeps the span context of each Append's ctx.
type ctxSink struct {
	memSink
	mu  sync.Mutex
	scs []trace.SpanContext
}

func (s *ctxSink) Append(ctx context.Context, events [][]byte) ([]Position, error) {
	s.mu.Lock()
	s.scs = append(s.scs, trace.SpanContextFromContext(ctx))
	s.mu.Unlock()
	return s.memSink.Append(ctx, events)
}

// requestSC is the span context of the i-th test request.
func requestSC(i int, sampled bool) trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	tid[0], tid[15] = 0xab, byte(i+1)
	sid[0], sid[7] = 0xcd, byte(i+1)
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.NewSpanContext(cfg)
}

// tracedBatcher starts a batcher on sink whose batch spans go to the
// returned exporter; one batch holds size events and waits for them.
func tracedBatcher(t *testing.T, sink Sink, size int) (*Batcher, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	b, err := New(sink, Config{BatchSize: size, BatchWait: time.Hour}, WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b, exp
}

// submitEach submits one event per context at once and returns their
// errors, in order.
func submitEach(b *Batcher, ctxs []context.Context) []error {
	errs := make([]error, len(ctxs))
	var wg sync.WaitGroup
	for i, ctx := range ctxs {
		wg.Go(func() { _, errs[i] = b.Submit(ctx, fmt.Appendf(nil, "event-%02d", i)) })
	}
	wg.Wait()
	return errs
}

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// One span per Append, linked to exactly the sampled requests it carries,
// with the batch's attributes; its kind follows the sink's.
func TestAppendSpan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		kind     string // "" : a sink without Kinder
		wantKind trace.SpanKind
		wantSink string
	}{
		{"unnamed sink is other, INTERNAL", "", trace.SpanKindInternal, "other"},
		{"file is INTERNAL", "file", trace.SpanKindInternal, "file"},
		{"kafka is a PRODUCER", "kafka", trace.SpanKindProducer, "kafka"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sink Sink = &memSink{}
			if tc.kind != "" {
				sink = &kindSink{kind: tc.kind}
			}
			const n = 6
			b, exp := tracedBatcher(t, sink, n)
			// Requests 0-2 sampled, 3 not sampled, 4 without a span, 5 sampled.
			ctxs := make([]context.Context, n)
			var want []trace.SpanContext
			for i := range n {
				ctxs[i] = context.Background()
				if i == 4 {
					continue
				}
				sc := requestSC(i, i != 3)
				ctxs[i] = trace.ContextWithSpanContext(ctxs[i], sc)
				if sc.IsSampled() {
					want = append(want, sc)
				}
			}
			for i, err := range submitEach(b, ctxs) {
				if err != nil {
					t.Fatalf("Submit %d: %v", i, err)
				}
			}
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1 (one Append)", len(spans))
			}
			sp := spans[0]
			if sp.Name != AppendSpanName || sp.SpanKind != tc.wantKind || sp.Parent.IsValid() || sp.Status.Code != codes.Unset {
				t.Errorf("span %q kind %v parent %v status %v", sp.Name, sp.SpanKind, sp.Parent, sp.Status)
			}
			if sp.InstrumentationScope.Name != TracerName {
				t.Errorf("scope %q", sp.InstrumentationScope.Name)
			}
			var got []trace.SpanContext
			for _, l := range sp.Links {
				got = append(got, l.SpanContext)
			}
			sortSC(got)
			sortSC(want)
			if !slices.EqualFunc(got, want, func(a, b trace.SpanContext) bool { return a.Equal(b) }) {
				t.Errorf("links %v, want %v", got, want)
			}
			a := attrMap(sp.Attributes)
			if a[AttrBatchEvents].AsInt64() != n || a[AttrBatchBytes].AsInt64() != int64(n*len("event-00")) || a[AttrSink].AsString() != tc.wantSink {
				t.Errorf("attributes %v", sp.Attributes)
			}
			if d := a[AttrSinkDuration].AsFloat64(); d < 0 || d != sp.EndTime.Sub(sp.StartTime).Seconds() {
				t.Errorf("%s = %v, span lasted %v", AttrSinkDuration, d, sp.EndTime.Sub(sp.StartTime))
			}
			if _, ok := a[AttrBatchWait]; !ok {
				t.Errorf("no %s", AttrBatchWait)
			}
			_, hasMsg := a["messaging.system"]
			_, hasDest := a["messaging.destination.name"]
			if hasMsg != (tc.kind == "kafka") || hasDest != hasMsg || (hasMsg && (a["messaging.system"].AsString() != "kafka" ||
				a["messaging.batch.message_count"].AsInt64() != n || a["messaging.destination.name"].AsString() != "events")) {
				t.Errorf("messaging attributes: %v", sp.Attributes)
			}
		})
	}
}

func sortSC(s []trace.SpanContext) {
	slices.SortFunc(s, func(a, b trace.SpanContext) int {
		x, y := a.SpanID(), b.SpanID()
		return slices.Compare(x[:], y[:])
	})
}

// A failed Append is a span with status Error and the error recorded.
func TestAppendSpanError(t *testing.T) {
	t.Parallel()
	sink := &memSink{err: errDiskFull}
	b, exp := tracedBatcher(t, sink, 1)
	ctx := trace.ContextWithSpanContext(context.Background(), requestSC(0, true))
	if _, err := b.Submit(ctx, []byte("x")); !errors.Is(err, ErrSinkUnavailable) {
		t.Fatalf("Submit: %v", err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	sp := spans[0]
	if sp.Status.Code != codes.Error || sp.Status.Description != errDiskFull.Error() {
		t.Errorf("status %v", sp.Status)
	}
	if len(sp.Events) != 1 || sp.Events[0].Name != "exception" {
		t.Errorf("events %v, want the recorded error", sp.Events)
	}
	if len(sp.Links) != 1 || !sp.Links[0].SpanContext.Equal(requestSC(0, true)) {
		t.Errorf("links %v", sp.Links)
	}
	// Batches answered in the back-off (without a write) have no span:
	// one span per Append call, whatever the timing.
	for range 3 {
		if _, err := b.Submit(ctx, []byte("y")); !errors.Is(err, ErrSinkUnavailable) {
			t.Fatalf("Submit after a failure: %v", err)
		}
	}
	if _, _, calls := sink.snapshot(); len(exp.GetSpans()) != calls {
		t.Errorf("%d spans for %d Append calls", len(exp.GetSpans()), calls)
	}
}

// The sink's ctx carries the batch span, so its own spans are children.
func TestAppendSpanInSinkContext(t *testing.T) {
	t.Parallel()
	sink := &ctxSink{}
	b, exp := tracedBatcher(t, sink, 1)
	if _, err := b.Submit(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || len(sink.scs) != 1 || !sink.scs[0].Equal(spans[0].SpanContext) {
		t.Errorf("sink saw %v, span %v", sink.scs, spans)
	}
}

// Without WithTracerProvider the batcher takes nothing from Submit's ctx.
func TestAppendSpanOff(t *testing.T) {
	t.Parallel()
	b, err := New(&memSink{}, Config{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if b.tr != nil {
		t.Fatal("batch tracer without WithTracerProvider")
	}
	ctx := trace.ContextWithSpanContext(context.Background(), requestSC(0, true))
	if _, err := b.Submit(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
}
