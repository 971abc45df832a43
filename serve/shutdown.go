package serve

import (
	"context"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
	"github.com/hotpath-dev/hotpath/tracing"
)

// servedEngine is the engine New returns when serve owns more than the
// engine: the ingest path, the tracer provider it built, or both. Its Run
// shuts them down in the one order that loses nothing:
//
//  1. the engine's Run: the transport (and gRPC) drained and stopped, so
//     no request submits an event or makes a span any more;
//  2. the ingest batcher closed (its queue written, bounded by closeBound)
//     and the sink closed (ingestPath.finish): the last batches' spans end
//     here;
//  3. the tracer provider flushed and shut down (tracing.Provider.Close,
//     bounded by tracing.DefaultShutdownTimeout), so those spans are
//     exported too.
type servedEngine struct {
	server.Engine
	ing     *ingestPath       // nil: ingest off
	tracing *tracing.Provider // built by New; nil: tracing off or the caller's
	ready   *service.Readiness
}

// Readiness is the state behind /readyz: draining, or the sink failing
// for longer than Config.IngestUnreadyAfter.
func (e *servedEngine) Readiness() *service.Readiness { return e.ready }

// Run serves until ctx ends, then shuts down in servedEngine's order. It
// returns the engine's error, else the sink's; what the tracer provider
// could not flush is logged, not returned.
func (e *servedEngine) Run(ctx context.Context) error {
	err := e.Engine.Run(ctx)
	if e.ing != nil {
		if ferr := e.ing.finish(); ferr != nil && err == nil {
			err = ferr
		}
	}
	if e.tracing != nil {
		e.tracing.Close() // logs what it could not flush; returns nil
	}
	return err
}
