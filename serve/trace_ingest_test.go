package serve

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/internal/ingesttest"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"github.com/hotpath-dev/hotpath/server"
)

// traceN is the i-th test trace ID, 32 hex digits.
func traceN(i int) string { return fmt.Sprintf("%032x", 0xfeed0000+i) }

// Requests with known traceparents on every engine, and gRPC calls with
// traceparent metadata: their events go in one batch, whose ingest.append
// span links to exactly their request spans. With a sampler that samples
// no new trace (ratio 0), the sampled requests (their traceparent says so)
// still bring their batch span along: it is sampled because it links to
// them (tracing's linkedSampler), not left to the ratio.
func TestTraceIngestLinks(t *testing.T) {
	tests := []struct {
		name, engine string
		grpc         bool   // the events come as gRPC IngestService calls
		ratio        string // "": parentbased_always_on; else parentbased_traceidratio with this ratio
	}{
		{"http/nethttp", "nethttp", false, ""},
		{"http/fasthttp", "fasthttp", false, ""},
		{"http/nbio", "nbio", false, ""},
		{"grpc/nethttp", "nethttp", true, ""},
		{"grpc/fasthttp", "fasthttp", true, ""},
		{"http/nethttp ratio 0", "nethttp", false, "0"},
		{"http/fasthttp ratio 0", "fasthttp", false, "0"},
		{"grpc/nethttp ratio 0", "nethttp", true, "0"},
	}
	const n = 3
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := &ingesttest.Sink{}
			// One batch of n events: the first waits (up to 10 s) for the others.
			sampler := "parentbased_always_on"
			if tc.ratio != "" {
				sampler = "parentbased_traceidratio"
			}
			ts := startTracedSampler(t, Options{Engine: tc.engine, GRPC: tc.grpc, IngestSink: sink},
				server.Config{IngestBatchSize: n, IngestBatchWait: 10 * time.Second}, sampler, tc.ratio)
			var conn *grpc.ClientConn
			if tc.grpc {
				var err error
				conn, err = grpc.NewClient(strings.TrimPrefix(ts.base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
			}
			var wg sync.WaitGroup
			for i := range n {
				tp := "00-" + traceN(i) + "-" + parentSpan + "-01"
				wg.Go(func() {
					if tc.grpc {
						ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "traceparent", tp), 5*time.Second)
						defer cancel()
						if _, err := hotpathv1.NewIngestServiceClient(conn).Ingest(ctx, &hotpathv1.IngestRequest{Event: []byte("ev")}); err != nil {
							t.Errorf("Ingest %d: %v", i, err)
						}
						return
					}
					req, _ := http.NewRequest("POST", ts.base+"/ingest", strings.NewReader("ev"))
					req.Header.Set("Traceparent", tp)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Errorf("POST %d: %v", i, err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						t.Errorf("POST %d: %d", i, resp.StatusCode)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			// The request spans (SERVER, HTTP or gRPC), one per trace.
			var want []trace.SpanContext
			for i := range n {
				s := ts.span(t, func(s sdktrace.ReadOnlySpan) bool {
					return s.SpanKind() == trace.SpanKindServer && s.SpanContext().TraceID().String() == traceN(i) &&
						(s.Name() == "POST /ingest" || s.Name() == "hotpath.v1.IngestService/Ingest")
				})
				want = append(want, s.SpanContext)
			}
			app := ts.span(t, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == ingest.AppendSpanName })
			var got []trace.SpanContext
			for _, l := range app.Links {
				got = append(got, l.SpanContext)
			}
			byTrace := func(a, b trace.SpanContext) int { return strings.Compare(a.TraceID().String(), b.TraceID().String()) }
			slices.SortFunc(got, byTrace)
			slices.SortFunc(want, byTrace)
			if !slices.EqualFunc(got, want, trace.SpanContext.Equal) {
				t.Errorf("links:\n got %v\nwant %v (the request spans)", got, want)
			}
			if app.SpanKind != trace.SpanKindInternal || app.Parent.IsValid() || app.Status.Code != codes.Unset {
				t.Errorf("append span: kind %v parent %v status %v", app.SpanKind, app.Parent, app.Status)
			}
			for k, v := range map[attribute.Key]int64{ingest.AttrBatchEvents: n, ingest.AttrBatchBytes: n * 2} {
				if got, ok := attrOf(app, k); !ok || got.AsInt64() != v {
					t.Errorf("%s = %v, want %d", k, got.Emit(), v)
				}
			}
			if got, _ := attrOf(app, ingest.AttrSink); got.AsString() != "other" {
				t.Errorf("%s = %q", ingest.AttrSink, got.Emit())
			}
			if _, ok := attrOf(app, ingest.AttrSinkDuration); !ok {
				t.Errorf("no %s", ingest.AttrSinkDuration)
			}
		})
	}
}

// A sink that fails: the POST is 503 and the batch span has status Error.
func TestTraceIngestSinkDown(t *testing.T) {
	t.Parallel()
	sink := &ingesttest.Sink{}
	sink.Fail(errors.New("disk on fire"))
	ts := startTracedOpts(t, Options{Engine: "nethttp", IngestSink: sink}, server.Config{IngestBatchSize: 1})
	resp, body := ts.do(t, "POST", "/ingest", "ev", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	app := ts.span(t, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == ingest.AppendSpanName })
	if app.Status.Code != codes.Error || !strings.Contains(app.Status.Description, "disk on fire") {
		t.Errorf("status %v, want Error with the sink's error", app.Status)
	}
	req := ts.span(t, serverSpanFor("/ingest", 503))
	if len(app.Links) != 1 || !app.Links[0].SpanContext.Equal(req.SpanContext) {
		t.Errorf("links %v, want the request span %v", app.Links, req.SpanContext)
	}
}

// finishingSink's Append waits until its context ends (Close giving up at
// shutdown) and then stores the batch anyway, as a sink may finish a write
// it started: a batch written during the shutdown flush, after the
// transport has drained.
type finishingSink struct {
	ingesttest.Sink
	entered chan struct{}
}

func (s *finishingSink) Append(ctx context.Context, events [][]byte) ([]ingest.Position, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return s.Sink.Append(context.Background(), events)
}

// Shutdown order: the span of a batch written during the shutdown flush,
// after the transport drained, is exported over OTLP: the tracer provider
// serve built is flushed after the ingest batcher and the sink are closed.
func TestTraceIngestShutdownFlush(t *testing.T) {
	clearOTelEnv(t)
	for _, tc := range []struct {
		engine string
		grpc   bool
	}{{"nethttp", false}, {"fasthttp", true}} {
		t.Run(tc.engine, func(t *testing.T) {
			recv := &otlpSink{}
			ep := startSink(t, "http/protobuf", recv)
			sink := &finishingSink{entered: make(chan struct{}, 1)}
			base, stop := runTracedServe(t, server.Config{
				OTLPEndpoint: ep, OTLPProtocol: "http/protobuf",
				IngestBatchSize: 1, RequestTimeout: 500 * time.Millisecond, ShutdownTimeout: time.Second,
			}, Options{Engine: tc.engine, GRPC: tc.grpc, IngestSink: sink})
			// The request times out while its batch is being written: it is
			// answered 503 and the transport has nothing left to drain.
			req, _ := http.NewRequest("POST", base+"/ingest", strings.NewReader("late"))
			req.Header.Set("Traceparent", traceparent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("POST: %d, want 503 (request timeout)", resp.StatusCode)
			}
			select {
			case <-sink.entered:
			default:
				t.Fatal("the batch's Append had not started when the request timed out")
			}
			if err, _ := stop(); err != nil { // the batcher's Close gives up at closeBound: the Append ends then
				t.Fatalf("Run: %v", err)
			}
			if len(sink.Stored()) != 1 {
				t.Fatalf("stored %q, want the one event", sink.Stored())
			}
			var app *tracepb.Span
			for _, s := range recv.get() {
				if s.span.GetName() == ingest.AppendSpanName {
					app = s.span
				}
			}
			if app == nil {
				t.Fatal("the batch span written during the shutdown flush was not exported")
			}
			if len(app.GetLinks()) != 1 || hex.EncodeToString(app.GetLinks()[0].GetTraceId()) != parentTrace {
				t.Errorf("links %v, want the request's (trace %s)", app.GetLinks(), parentTrace)
			}
			if app.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("status %v", app.GetStatus())
			}
		})
	}
}
