package ingest

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the batch spans.
const TracerName = "github.com/hotpath-dev/hotpath/ingest"

// AppendSpanName is the name of the span of one sink Append.
const AppendSpanName = "ingest.append"

// Attributes of the batch span (besides messaging.* for Kafka).
const (
	AttrBatchEvents  = attribute.Key("hotpath.ingest.batch.events")        // int: events in the Append
	AttrBatchBytes   = attribute.Key("hotpath.ingest.batch.bytes")         // int: their bytes, as stored
	AttrBatchWait    = attribute.Key("hotpath.ingest.batch.wait_seconds")  // float: oldest event queued → Append start
	AttrSink         = attribute.Key("hotpath.ingest.sink")                // string: the sink's kind (see Kinder)
	AttrSinkDuration = attribute.Key("hotpath.ingest.sink.append_seconds") // float: the Append's latency
)

// Kinder is implemented by sinks that say what they write to, for the
// batch span's hotpath.ingest.sink attribute: "file" (ingest/filelog),
// "kafka" (ingest/kafkasink). A sink without it is "other". A "kafka" sink's
// spans are PRODUCER spans with the messaging.* attributes.
type Kinder interface {
	SinkKind() string
}

// Destinationer is implemented by sinks that name where they write: a
// "kafka" sink's topic, the batch span's messaging.destination.name.
type Destinationer interface {
	SinkDestination() string
}

// WithTracerProvider makes every sink Append a span (AppendSpanName) from
// tp's tracer (TracerName), linked to the spans of the requests whose events
// it carries. Submit then takes the span context found in its ctx
// (trace.SpanContextFromContext) along with the event; one link per event
// whose span context is valid and sampled (the SDK keeps at most its
// SpanLimits.LinkCountLimit, 128 by default). The span is a root: it is
// recorded as the provider's sampler decides for a new trace with those
// links; package tracing's providers sample every root that links to a
// sampled span, so each sampled request's trace links to its batch.
//
// It is INTERNAL for most sinks and PRODUCER for "kafka" (see Kinder): a
// Kafka batch is a message send that consumers may continue, the messaging
// conventions' producer span with links to each message's creation context;
// a file write has no remote peer. Attributes: AttrBatchEvents,
// AttrBatchBytes, AttrBatchWait, AttrSink, AttrSinkDuration (the span's
// start and end are the same clock reads), and for Kafka messaging.system,
// messaging.operation.type, messaging.batch.message_count and, when the
// sink implements Destinationer, messaging.destination.name. A failed
// Append ends it with status Error and the error recorded. Batches answered
// without calling the sink (back-off, Close giving up) have no span.
//
// The span's context is the ctx of Append, so a sink's own spans are its
// children. Nil, the default, makes no spans and adds nothing to Submit.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// batchTracer makes the batch spans; nil when tracing is off.
type batchTracer struct {
	tracer   trace.Tracer
	kind     string
	dest     string // Destinationer's answer, for Kafka
	spanKind trace.SpanStartOption
	links    []trace.Link         // reused per batch (the SDK copies them)
	attrs    []attribute.KeyValue // reused per batch (the SDK copies them)
}

func newBatchTracer(tp trace.TracerProvider, sink Sink, batchSize int) *batchTracer {
	kind := "other"
	if k, ok := sink.(Kinder); ok {
		kind = k.SinkKind()
	}
	spanKind := trace.SpanKindInternal
	if kind == "kafka" {
		spanKind = trace.SpanKindProducer
	}
	var dest string
	if d, ok := sink.(Destinationer); ok {
		dest = d.SinkDestination()
	}
	return &batchTracer{
		tracer:   tp.Tracer(TracerName),
		kind:     kind,
		dest:     dest,
		spanKind: trace.WithSpanKind(spanKind),
		links:    make([]trace.Link, 0, batchSize),
		attrs:    make([]attribute.KeyValue, 0, 8),
	}
}

// start starts the span of an Append of batch beginning at start, under
// ctx; it returns ctx with the span.
func (t *batchTracer) start(ctx context.Context, start time.Time, batch []*waiter) (context.Context, trace.Span) {
	t.links = t.links[:0]
	for _, w := range batch {
		if w.sc.IsValid() && w.sc.IsSampled() {
			t.links = append(t.links, trace.Link{SpanContext: w.sc})
		}
	}
	ctx, span := t.tracer.Start(ctx, AppendSpanName, t.spanKind, trace.WithTimestamp(start), trace.WithLinks(t.links...))
	clear(t.links) // drop the trace states
	return ctx, span
}

// end records the Append's outcome on span and ends it at end.
func (t *batchTracer) end(span trace.Span, start, end time.Time, events, bytes int, wait time.Duration, err error) {
	if span.IsRecording() {
		a := append(t.attrs[:0],
			AttrBatchEvents.Int(events),
			AttrBatchBytes.Int(bytes),
			AttrBatchWait.Float64(wait.Seconds()),
			AttrSink.String(t.kind),
			AttrSinkDuration.Float64(end.Sub(start).Seconds()),
		)
		if t.kind == "kafka" {
			a = append(a, semconv.MessagingSystemKafka, semconv.MessagingOperationTypeSend, semconv.MessagingBatchMessageCount(events))
			if t.dest != "" {
				a = append(a, semconv.MessagingDestinationName(t.dest))
			}
		}
		span.SetAttributes(a...)
		clear(a)
		if err != nil {
			span.RecordError(err, trace.WithTimestamp(end))
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End(trace.WithTimestamp(end))
}
