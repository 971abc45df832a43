// Package serve builds what `hotpath serve` runs, so a Go program can run
// the same thing: an engine (net/http, fasthttp or nbio) with the seed's
// routes and, on the engines that can, gRPC and its HTTP/JSON gateway on
// the same port (split per connection by portmux). internal/cli only maps
// flags to a server.Config and Options and calls New and Run.
package serve

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/engine/nbioengine"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
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
}

// engine is one entry of the engine table: how to build it on its own
// port, and on the HTTP side of a port shared with gRPC (nil: it cannot).
type engine struct {
	alone  func(server.Config, []server.Option) (server.Engine, error)
	shared func(*grpcPort, server.Config, []server.Option) (server.Engine, error)
}

// engines is the one table of what --engine accepts.
var engines = map[string]engine{
	server.EngineName: {
		alone: func(cfg server.Config, opts []server.Option) (server.Engine, error) {
			s, err := server.New(cfg, opts...)
			if err == nil {
				service.Register(s)
			}
			return s, err
		},
		shared: sharedNetHTTP,
	},
	fasthttpengine.EngineName: {
		alone: func(cfg server.Config, opts []server.Option) (server.Engine, error) {
			s, err := fasthttpengine.New(cfg, opts...)
			if err == nil {
				fasthttpengine.RegisterService(s)
			}
			return s, err
		},
		shared: sharedFastHTTP,
	},
	nbioengine.EngineName: {
		alone: func(cfg server.Config, opts []server.Option) (server.Engine, error) {
			s, err := nbioengine.New(cfg, opts...)
			if err == nil {
				service.Register(s)
			}
			return s, err
		},
	},
}

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
// routes (package service) and, with o.GRPC, the gRPC server and gateway
// on the same port. With o.GRPC, New binds the public port (the engine is
// built on portmux's HTTP side of it) and Run releases it; without, nothing
// listens until Listen or Run. Errors caused by cfg or o wrap
// server.ErrInvalidConfig (an unknown engine, gRPC on an engine that cannot
// serve it, an option the engine cannot honour); a port that cannot be bound
// is a *server.ListenError.
func New(cfg server.Config, o Options) (server.Engine, error) {
	name := o.Engine
	if name == "" {
		name = DefaultEngine
	}
	e, ok := engines[name]
	if !ok {
		return nil, fmt.Errorf("%w: engine %q: unknown (have %s)", server.ErrInvalidConfig, name, strings.Join(Engines(), ", "))
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.AccessLog == nil {
		o.AccessLog = os.Stdout
	}
	opts := []server.Option{server.WithLogger(o.Log), server.WithAccessLogOutput(o.AccessLog)}
	if !o.GRPC {
		return e.alone(cfg, opts)
	}
	if e.shared == nil {
		return nil, fmt.Errorf("%w: engine %q cannot serve gRPC (%s can)", server.ErrInvalidConfig, name, strings.Join(GRPCEngines(), " and "))
	}
	return newShared(cfg, o.Log, name == fasthttpengine.EngineName, func(p *grpcPort) (server.Engine, error) {
		return e.shared(p, cfg, append(opts, server.WithRegistry(p.reg)))
	})
}
