package tracing

import (
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// linkedSampler is the sampler of every Provider: a root span that links
// to a sampled span is sampled; every other span is base's to decide.
//
// Why: the ingest stage's batch span (ingest.WithTracerProvider) is a root
// linked to the request spans whose events it writes. Left to a ratio
// sampler, it would be kept by its own trace ID: at 1 %, 1 % of the batch
// spans, and almost never one that a sampled request links to, so the
// sink write would be missing from nearly every sampled request's trace.
// With this sampler, a sampled request's trace always shows the batch
// write that made its event durable, and a batch no sampled request is in
// costs nothing. Spans that have a parent are left to base (ParentBased
// follows the parent), and so are roots without links (request spans),
// for which the check is one length test.
type linkedSampler struct{ base sdktrace.Sampler }

func (s linkedSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if len(p.Links) > 0 && !trace.SpanContextFromContext(p.ParentContext).IsValid() {
		for _, l := range p.Links {
			if l.SpanContext.IsSampled() {
				return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
			}
		}
	}
	return s.base.ShouldSample(p)
}

func (s linkedSampler) Description() string {
	return "LinkedSampled{" + s.base.Description() + "}"
}
