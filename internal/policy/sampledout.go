package policy

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// Sampling lets the Trace step decide that a request's span is sampled out
// without starting it through the SDK (whose Start costs about 0.25 µs and
// two allocations per request even for a span it drops). *tracing.Provider
// implements it.
type Sampling interface {
	// Sampler is the provider's sampler: its decision is the SDK's.
	Sampler() sdktrace.Sampler
	// ContextWithIDs makes the next root span started from the returned
	// context take these IDs, those the sampler decided for.
	ContextWithIDs(ctx context.Context, tid trace.TraceID, sid trace.SpanID) context.Context
}

// start is Start with a Sampling: the sampler decides first, with the IDs
// the SDK would draw; a sampled-out span is a droppedSpan in a context of
// one allocation, a sampled one is the SDK's (a root with those IDs).
func (t *Tracer) start(ctx context.Context, name string, buf *SpanBuf) (context.Context, trace.Span) {
	psc := trace.SpanContextFromContext(ctx)
	var tid trace.TraceID
	var sid trace.SpanID
	root := !psc.TraceID().IsValid()
	if root && t.rootsKept { // no decision to make first (100 %)
		return t.tracer.Start(ctx, name, serverKind...)
	}
	if root {
		tid, sid = newIDs()
	} else {
		tid, sid = psc.TraceID(), newSpanID()
	}
	res := t.sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: ctx, TraceID: tid, Name: name, Kind: trace.SpanKindServer})
	if res.Decision != sdktrace.Drop {
		if root {
			ctx = t.sampling.ContextWithIDs(ctx, tid, sid)
		}
		return t.tracer.Start(ctx, name, serverKind...)
	}
	var c *droppedCtx
	if buf != nil && spanKey != nil {
		c = &buf.c
		*c = droppedCtx{Context: ctx}
	} else {
		c = &droppedCtx{Context: ctx}
	}
	c.span.sc = trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: psc.TraceFlags() &^ trace.FlagsSampled,
		TraceState: res.Tracestate,
	})
	c.span.t = t
	if spanKey == nil { // package trace no longer looks spans up as expected
		return trace.ContextWithSpan(ctx, &c.span), &c.span
	}
	return c, &c.span
}

// SpanBuf is room for a sampled-out span and its context inside state the
// caller owns and reuses (the fasthttp engine's pooled per-request state),
// so that StartIn allocates nothing for them. The zero value is ready.
type SpanBuf struct{ c droppedCtx }

// StartIn is Start, putting a sampled-out span and its context in buf.
// The context and span it returns are then valid only until buf is reused
// or cleared: a context that must outlive the request (a handler's) is to
// be taken with Detach.
func (t *Tracer) StartIn(buf *SpanBuf, parent context.Context, carrier propagation.TextMapCarrier, method string) (context.Context, trace.Span) {
	ctx := t.prop.Extract(parent, carrier)
	if t.sampling != nil {
		return t.start(ctx, spanMethod(method), buf)
	}
	return t.tracer.Start(ctx, spanMethod(method), serverKind...)
}

// Detach returns ctx, or a copy of it on the heap (one allocation) if it
// is buf's: a context that stays valid after buf is reused.
func (b *SpanBuf) Detach(ctx context.Context) context.Context {
	if c, ok := ctx.(*droppedCtx); ok && c == &b.c {
		cp := new(droppedCtx)
		*cp = b.c
		return cp
	}
	return ctx
}

// keepsEveryRoot reports whether s keeps a root span even for the trace ID
// least likely to be kept (the ratio samplers keep a trace ID whose low 63
// bits are below ratio × 2⁶³): true for always_on, parentbased_always_on
// and a ratio of 1, whose roots the SDK then starts without a decision
// made first. Only a speed-up: deciding first is never wrong.
func keepsEveryRoot(s sdktrace.Sampler) bool {
	tid := trace.TraceID{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	res := s.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: tid, Name: "probe", Kind: trace.SpanKindServer})
	return res.Decision == sdktrace.RecordAndSample
}

// droppedSpan is a sampled-out span: it carries the span context (the
// trace ID, a new span ID, the flags without "sampled", the trace state)
// to the handler, its outgoing calls and its child spans, like the SDK's
// non-recording span, and records nothing. Its own type rather than noop.Span, which would carry a second, unused
// span context: the object is allocated per request, so its size counts.
type droppedSpan struct {
	embedded.Span
	sc trace.SpanContext
	t  *Tracer
}

func (s *droppedSpan) SpanContext() trace.SpanContext        { return s.sc }
func (s *droppedSpan) TracerProvider() trace.TracerProvider  { return s.t.tp }
func (*droppedSpan) IsRecording() bool                       { return false }
func (*droppedSpan) End(...trace.SpanEndOption)              {}
func (*droppedSpan) AddEvent(string, ...trace.EventOption)   {}
func (*droppedSpan) AddLink(trace.Link)                      {}
func (*droppedSpan) RecordError(error, ...trace.EventOption) {}
func (*droppedSpan) SetStatus(codes.Code, string)            {}
func (*droppedSpan) SetName(string)                          {}
func (*droppedSpan) SetAttributes(...attribute.KeyValue)     {}

// droppedCtx is a context holding a droppedSpan: what
// trace.ContextWithSpan(ctx, span) does, in one allocation instead of
// two (the span and the context are one object).
type droppedCtx struct {
	context.Context
	span droppedSpan
}

func (c *droppedCtx) Value(key any) any {
	if key == spanKey {
		return trace.Span(&c.span)
	}
	return c.Context.Value(key)
}

// spanKey is the key package trace keeps the current span under, learnt
// once by watching trace.SpanFromContext look it up (its type is
// unexported). Nil if that lookup changes shape; droppedCtx is then not
// used, and TestTraceSampledOut checks the span still reaches the handler.
var spanKey = func() any {
	p := &keyProbe{Context: context.Background()}
	trace.SpanFromContext(p)
	if p.n != 1 {
		return nil
	}
	return p.key
}()

type keyProbe struct {
	context.Context
	key any
	n   int
}

func (p *keyProbe) Value(key any) any {
	p.key = key
	p.n++
	return nil
}

// newIDs and newSpanID draw IDs as the SDK's default generator does.
func newIDs() (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid, newSpanID()
}

func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}
