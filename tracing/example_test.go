package tracing_test

import (
	"context"
	"log"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/tracing"
)

// A program that owns its tracer provider hands it to a server; with no
// option, server.New builds one from Config.OTLPEndpoint and friends (or
// OTEL_EXPORTER_OTLP_ENDPOINT) and shuts it down itself.
func Example() {
	ctx := context.Background()
	p, err := tracing.New(ctx, tracing.Config{
		Endpoint:   "http://127.0.0.1:4318", // OTLP/HTTP; nothing is sent until a span ends
		Sampler:    "parentbased_traceidratio",
		SamplerArg: "0.01",
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(ctx) // flushes what is queued

	s, err := server.New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff}, server.WithTracing(p))
	if err != nil {
		log.Fatal(err)
	}
	_ = s // s.Run(ctx) serves; every request is a span (1 % of new traces sampled)
	// Output:
}
