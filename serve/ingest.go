package serve

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/sinkuri"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/tracing"
)

// ingestPath is the ingest side of `hotpath serve`: the sink, the batcher
// in front of it, and their shutdown.
//
// The lifecycle, in the Runtime's shutdown order: /readyz turns 503 and
// OnDrain runs drain; drain waits out Config.DrainDelay (the batcher keeps
// accepting while load balancers notice), then closes the batcher, bounded
// by closeBound(ShutdownTimeout): from then on new events get 503 (shutting
// down), queued ones are written, and the requests waiting on them get
// their 202 while the transport drains them. Events still queued when the
// bound ends are answered 503 (ErrClosed), before the transport cuts
// requests off at ShutdownTimeout: never a 202 for an event not stored,
// never a silent loss of an answered one. When Run returns, the sink is
// closed (the file log syncs and unlocks its directory), and only then is
// the tracer provider flushed (see servedEngine), so the spans of the last
// batches are exported.
type ingestPath struct {
	b    *ingest.Batcher
	sink ingest.Sink
	eff  server.Config
	log  *slog.Logger

	started atomic.Bool   // drain ran
	stop    chan struct{} // closed when the engine's Run returned
	drained chan struct{} // closed when drain's goroutine is done
}

// openIngest opens the sink (o.IngestSink, else the one eff.IngestSink
// names) and starts a batcher on it, with its metrics on reg and, when tp
// is not nil, a span per batch write from tp. It returns
// nil, nil when ingest is off. Errors wrap server.ErrInvalidConfig (the
// sink could not be opened: a bad URI, a directory that cannot be created
// or is locked by another process).
func openIngest(eff server.Config, o Options, reg prometheus.Registerer, tp *tracing.Provider) (*ingestPath, error) {
	format, err := ingest.ParseFormat(eff.IngestFormat)
	if err != nil { // Validate refuses it already
		return nil, fmt.Errorf("%w: ingest-format: %w", server.ErrInvalidConfig, err)
	}
	sink := o.IngestSink
	if sink == nil {
		if eff.IngestSink == server.IngestOff {
			return nil, nil
		}
		if sink, err = openSink(eff, o.Log, reg); err != nil {
			return nil, fmt.Errorf("%w: ingest-sink %q: %w", server.ErrInvalidConfig, eff.IngestSink, err)
		}
	}
	opts := []ingest.Option{ingest.WithRegisterer(reg), ingest.WithLogger(o.Log)}
	if tp != nil {
		opts = append(opts, ingest.WithTracerProvider(tp.TracerProvider()))
	}
	b, err := ingest.New(sink, ingest.Config{
		Format:        format,
		BatchSize:     eff.IngestBatchSize,
		BatchWait:     eff.IngestBatchWait,
		Queue:         eff.IngestQueue,
		MaxEventBytes: eff.IngestMaxEventBytes,
		UnreadyAfter:  eff.IngestUnreadyAfter,
	}, opts...)
	if err != nil {
		if o.IngestSink == nil {
			sink.Close() // New closes o.IngestSink itself
		}
		return nil, fmt.Errorf("%w: ingest: %w", server.ErrInvalidConfig, err)
	}
	o.Log.Info("ingest on POST /ingest", "sink", sinkName(eff, o), "batch_size", eff.IngestBatchSize, "batch_wait", eff.IngestBatchWait, "format", eff.IngestFormat)
	return &ingestPath{b: b, sink: sink, eff: eff, log: o.Log, stop: make(chan struct{}), drained: make(chan struct{})}, nil
}

// sinkName is what the start-up line says about the sink.
func sinkName(eff server.Config, o Options) string {
	if o.IngestSink != nil {
		return fmt.Sprintf("%T", o.IngestSink)
	}
	return eff.IngestSink
}

// sinkOpenTimeout bounds opening the sink at start-up (reaching a Kafka
// cluster and finding the topic; a file log opens at disk speed).
const sinkOpenTimeout = 10 * time.Second

// openSink opens the sink eff.IngestSink names (package sinkuri), its
// metrics on reg.
func openSink(eff server.Config, log *slog.Logger, reg prometheus.Registerer) (ingest.Sink, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sinkOpenTimeout)
	defer cancel()
	return sinkuri.Open(ctx, eff.IngestSink, sinkuri.Options{Fsync: eff.IngestFsync, KafkaDeliveryTimeout: eff.IngestKafkaDeliveryTimeout,
		Logger: log, Registerer: reg})
}

// closeBound is how long the batcher's Close may take at shutdown: the
// shutdown timeout less half of it, at most a second, so that the 503s of
// events it could not write are sent, and their connections seen idle,
// before the transport cuts requests off at the shutdown timeout. The
// margin is that large because net/http's Shutdown looks for idle
// connections every 500 ms once it has waited half a second: with a tenth
// of a 1 s timeout it saw the answered connection too late in the
// conformance suite and reported requests cut off.
func closeBound(shutdownTimeout time.Duration) time.Duration {
	return shutdownTimeout - min(shutdownTimeout/2, time.Second)
}

// drain is the engine's OnDrain hook (see ingestPath). It does not block.
func (g *ingestPath) drain() {
	if !g.started.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(g.drained)
		if d := g.eff.DrainDelay; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-g.stop:
			}
			t.Stop()
		}
		g.closeBatcher()
	}()
}

// closeBatcher closes the batcher within closeBound and logs what could
// not be written.
func (g *ingestPath) closeBatcher() {
	ctx, cancel := context.WithTimeout(context.Background(), closeBound(g.eff.ShutdownTimeout))
	defer cancel()
	if err := g.b.Close(ctx); err != nil {
		g.log.Warn("ingest: events still queued at the shutdown bound were answered 503 (not stored)", "bound", closeBound(g.eff.ShutdownTimeout))
	}
}

// finish runs when the engine's Run has returned: it waits for drain's
// goroutine, closes the batcher (writing what is queued if drain never ran,
// e.g. Run failed), then the sink.
func (g *ingestPath) finish() error {
	close(g.stop)
	if g.started.Load() {
		<-g.drained
	}
	g.closeBatcher() // a second Close only waits for the first
	if err := g.sink.Close(); err != nil {
		return fmt.Errorf("ingest: closing the sink: %w", err)
	}
	return nil
}

// abort releases the batcher and sink when New fails after opening them.
func (g *ingestPath) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = g.b.Close(ctx) // nothing was submitted
	g.sink.Close()
}
