package kafkasink

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hotpath-dev/hotpath/ingest"
)

// A batch written to Kafka through the batcher is one PRODUCER span with
// the messaging attributes, the topic among them.
func TestBatchSpanNamesTopic(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	s := newSink(t, c)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b, err := ingest.New(s, ingest.Config{BatchSize: 1}, ingest.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if _, err := b.Submit(ctx, []byte("traced")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != ingest.AppendSpanName || spans[0].SpanKind != trace.SpanKindProducer {
		t.Fatalf("spans %v, want one %s PRODUCER span", spans, ingest.AppendSpanName)
	}
	got := map[string]string{}
	for _, a := range spans[0].Attributes {
		got[string(a.Key)] = a.Value.Emit()
	}
	for k, want := range map[string]string{"messaging.system": "kafka", "messaging.destination.name": topic,
		"messaging.operation.type": "send", "messaging.batch.message_count": "1", "hotpath.ingest.sink": "kafka"} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q (attributes %v)", k, got[k], want, got)
		}
	}
}
