// Package serve builds what `hotpath serve` runs, so a Go program can run
// the same thing: an engine (net/http, fasthttp or nbio) with the seed's
// routes and, on the engines that can, gRPC and its HTTP/JSON gateway on
// the same port (split per connection by portmux). internal/cli only maps
// flags to a server.Config and Options and calls New and Run.
package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/engine/nbioengine"
	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
	"github.com/hotpath-dev/hotpath/tracing"
)

// DefaultEngine is the engine New uses when Options.Engine is empty.
const DefaultEngine = server.EngineName

// Options are what New needs besides the server.Config.
type Options struct {
	// Engine is one of Engines(); empty means DefaultEngine.
	Engine string
	// GRPC serves gRPC (hotpath.v1, health, reflection) and its HTTP/JSON
	// gateway (/v1/...) on the public port. Only GRPCEngines() can.
	GRPC bool
	// Log receives start-up, shutdown and panic lines. Nil: discard.
	Log *slog.Logger
	// AccessLog receives the access log when Config.AccessLog is on.
	// Nil: os.Stdout.
	AccessLog io.Writer
	// IngestSink, when not nil, is the sink of POST /ingest (and of gRPC
	// IngestService) instead of the one Config.IngestSink names, which is
	// then ignored: for a Go program's own Sink, and for tests. New takes
	// it over: Run closes it before it returns, and New closes it when it
	// fails.
	IngestSink ingest.Sink
	// Tracing, if not nil, is the tracer provider the engine, gRPC and the
	// ingest batcher use instead of one built from the Config's tracing
	// fields (which are then only validated). The caller owns it: shut it
	// down after Run returns. One New builds is shut down by Run, last.
	Tracing *tracing.Provider
}

// engine is one entry of the engine table: how to build it on its own
// port, and on the HTTP side of a port shared with gRPC (nil: it cannot).
// b, when not nil, is the batcher to mount POST /ingest on.
type engine struct {
	alone  func(cfg server.Config, opts []server.Option, b *ingest.Batcher) (server.Engine, error)
	shared func(p *grpcPort, cfg server.Config, opts []server.Option, b *ingest.Batcher) (server.Engine, error)
}

// engines is the one table of what --engine accepts.
var engines = map[string]engine{
	server.EngineName: {
		alone: func(cfg server.Config, opts []server.Option, b *ingest.Batcher) (server.Engine, error) {
			s, err := server.New(cfg, opts...)
			if err == nil {
				registerNetHTTP(s, b)
			}
			return s, err
		},
		shared: sharedNetHTTP,
	},
	fasthttpengine.EngineName: {
		alone: func(cfg server.Config, opts []server.Option, b *ingest.Batcher) (server.Engine, error) {
			s, err := fasthttpengine.New(cfg, opts...)
			if err == nil {
				registerFastHTTP(s, b)
			}
			return s, err
		},
		shared: sharedFastHTTP,
	},
	nbioengine.EngineName: {
		alone: func(cfg server.Config, opts []server.Option, b *ingest.Batcher) (server.Engine, error) {
			s, err := nbioengine.New(cfg, opts...)
			if err == nil {
				registerNetHTTP(s, b)
			}
			return s, err
		},
	},
}

// registerNetHTTP mounts the seed's routes and, with b, POST /ingest on an
// engine serving net/http handlers.
func registerNetHTTP(s *server.Server, b *ingest.Batcher) {
	service.Register(s)
	if b != nil {
		s.Handle(IngestPattern, ingest.Handler(b))
	}
}

// registerFastHTTP is registerNetHTTP on the fasthttp engine.
func registerFastHTTP(s *fasthttpengine.Server, b *ingest.Batcher) {
	fasthttpengine.RegisterService(s)
	if b != nil {
		fasthttpengine.RegisterIngest(s, b)
	}
}

// IngestPattern is the route of the ingest path on every engine.
const IngestPattern = "POST /ingest"

// Engines lists the engine names New accepts, sorted.
func Engines() []string {
	var names []string
	for n := range engines {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// GRPCEngines lists the engines that can serve gRPC on their port, sorted.
func GRPCEngines() []string {
	var names []string
	for n, e := range engines {
		if e.shared != nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// New builds `hotpath serve` from cfg and o: the engine with the seed's
// routes (package service), POST /ingest unless the ingest sink is off
// (Config.IngestSink or o.IngestSink; see ingest.go for its lifecycle)
// and, with o.GRPC, the gRPC server (with IngestService) and gateway on
// the same port. With o.GRPC, New binds the public port (the engine is
// built on portmux's HTTP side of it) and Run releases it; without, nothing
// listens until Listen or Run. Errors caused by cfg or o wrap
// server.ErrInvalidConfig (an unknown engine, gRPC on an engine that cannot
// serve it, an option the engine cannot honour, an ingest sink that cannot
// be opened); a port that cannot be bound is a *server.ListenError. On
// error nothing stays bound or open.
func New(cfg server.Config, o Options) (server.Engine, error) {
	eng, err := newEngine(cfg, o)
	if err != nil && o.IngestSink != nil {
		o.IngestSink.Close() // ours since New was called; the error is New's
	}
	return eng, err
}

func newEngine(cfg server.Config, o Options) (server.Engine, error) {
	name := o.Engine
	if name == "" {
		name = DefaultEngine
	}
	e, ok := engines[name]
	if !ok {
		return nil, fmt.Errorf("%w: engine %q: unknown (have %s)", server.ErrInvalidConfig, name, strings.Join(Engines(), ", "))
	}
	if o.GRPC && e.shared == nil {
		return nil, fmt.Errorf("%w: engine %q cannot serve gRPC (%s can)", server.ErrInvalidConfig, name, strings.Join(GRPCEngines(), " and "))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.AccessLog == nil {
		o.AccessLog = os.Stdout
	}
	reg := server.NewRegistry() // HTTP, gRPC and ingest metrics, one admin /metrics
	ready := &service.Readiness{}
	eff := cfg.WithDefaults()
	// One tracer provider for the HTTP engine, gRPC and the ingest
	// batcher (so the gateway's spans are one trace and the batch spans
	// link to the request spans), built here unless the caller gave one,
	// so that it is shut down after the ingest path (see servedEngine).
	tp, ownTP := o.Tracing, false
	if tp == nil {
		tc := eff.TracingConfig()
		tc.Log = o.Log
		var err error
		if tp, err = tracing.New(context.Background(), tc, reg); err != nil {
			return nil, fmt.Errorf("%w: %w", server.ErrInvalidConfig, err)
		}
		ownTP = tp != nil
	}
	closeTP := func() {
		if ownTP {
			tp.Close()
		}
	}
	ing, err := openIngest(eff, o, reg, tp)
	if err != nil {
		closeTP()
		return nil, err
	}
	var b *ingest.Batcher
	if ing != nil {
		b = ing.b
		ready.AddCheck(b.Ready)
	}
	opts := []server.Option{server.WithLogger(o.Log), server.WithAccessLogOutput(o.AccessLog),
		server.WithRegistry(reg), server.WithReadiness(ready), server.WithTracing(tp)}
	var eng server.Engine
	switch {
	case !o.GRPC:
		eng, err = e.alone(cfg, opts, b)
	default:
		eng, err = newShared(cfg, o.Log, tp, name == fasthttpengine.EngineName, reg, b, ready.Ready, func(p *grpcPort) (server.Engine, error) {
			return e.shared(p, cfg, opts, b)
		})
	}
	if err != nil {
		if ing != nil {
			ing.abort()
		}
		closeTP()
		return nil, err
	}
	if ing == nil && !ownTP {
		return eng, nil
	}
	if ing != nil {
		eng.OnDrain(ing.drain)
	}
	se := &servedEngine{Engine: eng, ing: ing, ready: ready}
	if ownTP {
		se.tracing = tp
	}
	return se, nil
}
