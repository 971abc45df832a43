package rpc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

const (
	clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan  = "00f067aa0ba902b7"
	clientTP    = "00-" + clientTrace + "-" + clientSpan + "-01"
)

func newTraceProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, exp
}

// spanNamed waits (3 s at most: the server ends its span after the client
// has its answer) for the exported span called name.
func spanNamed(t *testing.T, exp *tracetest.InMemoryExporter, name string) tracetest.SpanStub {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		for _, s := range exp.GetSpans() {
			if s.Name == name {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %q among %d", name, len(exp.GetSpans()))
		}
	}
}

// Calls that reach Server.ServeHTTP (an HTTP/2 server in front) are
// spans too, parented by their traceparent metadata.
func TestTraceServeHTTP(t *testing.T) {
	tp, exp := newTraceProvider(t)
	srv, err := New(Config{TracerProvider: tp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, Protocols: new(http.Protocols)}
	hs.Protocols.SetUnencryptedHTTP2(true)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	defer func() {
		_ = hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "traceparent", clientTP), 3*time.Second)
	defer cancel()
	if _, err := hotpathv1.NewEchoServiceClient(conn).Echo(ctx, &hotpathv1.EchoRequest{Message: "x"}); err != nil {
		t.Fatal(err)
	}
	s := spanNamed(t, exp, "hotpath.v1.EchoService/Echo")
	if s.SpanKind != trace.SpanKindServer || s.SpanContext.TraceID().String() != clientTrace || s.Parent.SpanID().String() != clientSpan {
		t.Errorf("span kind %v trace %s parent %s", s.SpanKind, s.SpanContext.TraceID(), s.Parent.SpanID())
	}
}

// A gateway call's gRPC span is a child of the span in the call's context
// (the HTTP request's), not of the traceparent the client sent; without a
// span in the context the client's parent is kept.
func TestTraceGatewayParent(t *testing.T) {
	tp, exp := newTraceProvider(t)
	srv, err := New(Config{TracerProvider: tp, Now: fixedClock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	call := func(ctx context.Context) tracetest.SpanStub {
		exp.Reset()
		c := Call{Method: "GET", Path: "/v1/time", Metadata: metadata.MD{"traceparent": {clientTP}}}
		srv.Gateway().Transcode(ctx, &c, nil)
		if c.Status != http.StatusOK {
			t.Fatalf("GET /v1/time: %d", c.Status)
		}
		return spanNamed(t, exp, "hotpath.v1.TimeService/Now")
	}
	ctx, httpSpan := tp.Tracer("t").Start(context.Background(), "GET /v1/", trace.WithSpanKind(trace.SpanKindServer))
	s := call(ctx)
	httpSpan.End()
	if s.Parent.SpanID() != httpSpan.SpanContext().SpanID() || s.SpanContext.TraceID() != httpSpan.SpanContext().TraceID() {
		t.Errorf("gRPC span parent %s trace %s, want the HTTP span %s", s.Parent.SpanID(), s.SpanContext.TraceID(), httpSpan.SpanContext().SpanID())
	}
	if s := call(context.Background()); s.Parent.SpanID().String() != clientSpan {
		t.Errorf("without an HTTP span: parent %s, want the client's %s", s.Parent.SpanID(), clientSpan)
	}
}
