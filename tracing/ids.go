package tracing

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// NewIDs returns a random, valid trace ID and span ID, drawn as the SDK's
// default ID generator draws them (math/rand/v2).
func NewIDs() (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid, NewSpanID()
}

// NewSpanID returns a random, valid span ID.
func NewSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}

// Sampler returns the provider's sampler, for callers that decide a span
// is sampled out without starting it (see ContextWithIDs).
func (p *Provider) Sampler() sdktrace.Sampler { return p.sampler }

// ContextWithIDs returns ctx carrying tid and sid as the IDs of the next
// root span that the provider's tracers start from ctx or a context
// derived from it (once: later roots get random IDs). A caller that asked
// Sampler about a root span with trace ID tid starts it this way, so the
// span gets the trace ID the decision was made for (the ratio samplers
// decide by trace ID).
func (p *Provider) ContextWithIDs(ctx context.Context, tid trace.TraceID, sid trace.SpanID) context.Context {
	return &presetIDs{Context: ctx, tid: tid, sid: sid}
}

type presetKey struct{}

// presetIDs is a context holding itself under presetKey: what
// context.WithValue does, in one allocation instead of two.
type presetIDs struct {
	context.Context
	tid  trace.TraceID
	sid  trace.SpanID
	used atomic.Bool
}

func (p *presetIDs) Value(key any) any {
	if key == (presetKey{}) {
		return p
	}
	return p.Context.Value(key)
}

// idGenerator is the SDK's random IDs, except for a root span started from
// a context with unused preset IDs (ContextWithIDs).
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if p, ok := ctx.Value(presetKey{}).(*presetIDs); ok && p.used.CompareAndSwap(false, true) {
		return p.tid, p.sid
	}
	return NewIDs()
}

func (idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return NewSpanID() }
