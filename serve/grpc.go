package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/engine/fasthttpengine/rpcgateway"
	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/internal/connlimit"
	"github.com/hotpath-dev/hotpath/middleware"
	"github.com/hotpath-dev/hotpath/portmux"
	"github.com/hotpath-dev/hotpath/rpc"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/tracing"
)

// sharedNetHTTP is the net/http engine on the HTTP side of a port shared
// with gRPC: portmux splits each accepted connection by its first request,
// gRPC goes to grpc-go's own transport (its fast path), everything else to
// the net/http server; gRPC calls that still reach it (HTTP/2 clients that
// waited for the server before their first call) go to rpc.Server.ServeHTTP,
// and /v1/... (the HTTP/JSON gateway) is mounted behind the HTTP middleware
// chain and then runs the gRPC interceptors too.
func sharedNetHTTP(p *grpcPort, cfg server.Config, opts []server.Option, b *ingest.Batcher) (server.Engine, error) {
	s, err := server.New(cfg, append(opts,
		server.WithSharedPort(server.SharedPort{Listener: p.httpL, TLS: p.tls, ConnContext: portmux.ConnContext, GRPC: p.rs}),
		server.WithTracing(p.tracing))...)
	if err != nil {
		return nil, err
	}
	registerNetHTTP(s, b)
	s.Handle("/v1/", gatewayHandler(p.rs.Gateway()))
	return s, nil
}

// sharedFastHTTP is sharedNetHTTP on the fasthttp engine: the same split,
// gRPC server, drain and flags, with the gateway on fasthttp (package
// rpcgateway, no net/http in between). fasthttp speaks HTTP/1.x only, so
// TLS and h2c stay refused (the engine's start-up error), and a non-gRPC
// HTTP/2 connection is answered with GOAWAY HTTP_1_1_REQUIRED and closed
// (portmux's HTTP1Only); one whose client waits before its first request
// goes to grpc-go.
func sharedFastHTTP(p *grpcPort, cfg server.Config, opts []server.Option, b *ingest.Batcher) (server.Engine, error) {
	s, err := fasthttpengine.New(cfg, append(opts, server.WithListener(p.httpL), server.WithTracing(p.tracing))...)
	if err != nil {
		return nil, err
	}
	registerFastHTTP(s, b)
	s.Handle("/v1/", rpcgateway.Handler(p.rs.Gateway()))
	return s, nil
}

// newShared opens the shared port (openGRPCPort), builds the HTTP engine on
// its HTTP side with newHTTP and binds the engine's admin address; on any
// error nothing stays bound.
func newShared(cfg server.Config, log *slog.Logger, tp *tracing.Provider, h1Only bool, reg *prometheus.Registry, b *ingest.Batcher, ready func() bool, newHTTP func(*grpcPort) (server.Engine, error)) (server.Engine, error) {
	p, err := openGRPCPort(cfg, log, tp, h1Only, reg, b, ready)
	if err != nil {
		return nil, err
	}
	h, err := newHTTP(p)
	if err == nil {
		err = h.Listen() // the admin address, now: nothing may stay bound on error
	}
	if err != nil {
		p.close()
		return nil, err
	}
	h.OnDrain(p.drain)
	return &sharedEngine{Engine: h, p: p}, nil
}

// sharedEngine is an HTTP engine and gRPC on one port: Run serves both and
// drains both (gRPC health follows /readyz, and turns NOT_SERVING at once
// when the drain begins; after the drain
// delay gRPC stops accepting and lets in-flight calls finish within the
// shutdown timeout, like HTTP).
type sharedEngine struct {
	server.Engine
	p *grpcPort
}

// Addr is the shared public address.
func (s *sharedEngine) Addr() net.Addr { return s.p.grpcL.Addr() }

// Run serves gRPC beside the HTTP engine until ctx ends, then drains both.
func (s *sharedEngine) Run(ctx context.Context) error { return s.p.run(ctx, s.Engine.Run) }

// grpcPort is the gRPC half of a public port shared with an HTTP engine:
// the gRPC server built from serve's flags, the bound port split by
// portmux, and the drain of the gRPC side.
type grpcPort struct {
	rs           *rpc.Server
	tls          *tls.Config // what portmux terminates, nil for cleartext
	grpcL, httpL net.Listener
	eff          server.Config
	log          *slog.Logger
	tracing      *tracing.Provider // shared by gRPC and the HTTP engine; nil: off

	draining atomic.Bool   // drain began (OnDrain ran)
	stopped  chan struct{} // closed when the drain's rs.Shutdown returned
}

// openGRPCPort validates cfg, builds the gRPC server from it and binds the
// public address, split into gRPC and HTTP listeners. The split
// terminates the TLS that cfg asks for, unless h1Only says the HTTP engine
// speaks HTTP/1.x only (no TLS, which in hotpath means HTTP/2 with ALPN: the
// engine refuses those flags itself): then non-gRPC HTTP/2 connections are
// refused with GOAWAY HTTP_1_1_REQUIRED (portmux.Options.HTTP1Only). Errors are the engines'
// (server.ErrInvalidConfig, *server.ListenError); on error nothing is bound.
// gRPC takes --max-body-bytes, --max-header-bytes (header list),
// --h2-max-concurrent-streams, --request-timeout, --max-inflight,
// --write-timeout, --rate-limit/--rate-burst and one --auth-token (on the methods --auth-routes
// covers) from the same flags as HTTP. Its metrics go to reg (shared with
// the HTTP engine's metrics and admin listener); b, when not nil, is
// served as IngestService; gRPC health follows ready (what /readyz
// answers: draining, the ingest sink), checked every 250 ms. tp, when not
// nil, is the tracer provider of both sides (New's: it shuts it down
// after the ingest path); nil means tracing is off.
func openGRPCPort(cfg server.Config, log *slog.Logger, tp *tracing.Provider, h1Only bool, reg *prometheus.Registry, b *ingest.Batcher, ready func() bool) (*grpcPort, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	eff := cfg.WithDefaults()
	if len(eff.AuthTokens) > 1 {
		return nil, fmt.Errorf("%w: --auth-token: gRPC accepts one bearer token, got %d (pass one, or --grpc=false)", server.ErrInvalidConfig, len(eff.AuthTokens))
	}
	p := &grpcPort{eff: eff, log: log, stopped: make(chan struct{})}
	if !h1Only {
		var err error
		if p.tls, err = server.TLSConfig(eff); err != nil {
			return nil, err
		}
	}
	rcfg := rpc.Config{
		MaxRecvMsgSize:       int(eff.MaxBodyBytes),
		MaxConcurrentStreams: uint32(eff.H2MaxConcurrentStreams),
		// The HTTP limits, for gRPC calls as well: the decoded header list
		// (HPACK) against --max-header-bytes, --max-inflight calls at once
		// (a separate count from HTTP's), and --write-timeout from a
		// call's headers to its end on the wire (else its connection is
		// closed, freeing answers stuck behind a client's window).
		MaxHeaderListSize: uint32(eff.MaxHeaderBytes),
		MaxInFlight:       eff.MaxInFlight,
		WriteTimeout:      eff.WriteTimeout,
		// --rate-limit per client for native gRPC calls too (a budget of
		// its own; gateway calls spend the HTTP side's).
		RateLimit: eff.RateLimit,
		RateBurst: eff.RateBurst,
		Creds:     portmux.Credentials(), // as Creds, not a ServerOption: WriteTimeout watches its connections
		Ingest:    b,
		Ready:     ready,
		OnPanic: func(method string, v any, stack []byte) {
			log.Error("panic in gRPC handler", "method", method, "panic", fmt.Sprint(v), "stack", string(stack))
		},
	}
	if eff.RequestTimeout > 0 {
		rcfg.Timeout = eff.RequestTimeout
	}
	if len(eff.AuthTokens) == 1 {
		rcfg.AuthToken = eff.AuthTokens[0]
		// One list for both protocols: a gRPC method needs the token when
		// --auth-routes covers its path, /package.Service/Method ("*", the
		// default, covers them all).
		routes := eff.AuthRoutes
		rcfg.AuthRequired = func(fullMethod string) bool { return server.AuthRequired(routes, fullMethod) }
	}
	// One tracer provider for both sides, so the gateway's HTTP span and
	// its gRPC span are one trace.
	var err error
	if p.tracing = tp; tp != nil {
		rcfg.TracerProvider, rcfg.Propagator = p.tracing.TracerProvider(), p.tracing.Propagator()
	}
	if p.rs, err = rpc.New(rcfg, reg); err != nil {
		return nil, fmt.Errorf("%w: grpc: %w", server.ErrInvalidConfig, err)
	}
	if p.grpcL, p.httpL, err = splitPublic(eff, log, portmux.Options{TLSConfig: p.tls, HTTP1Only: h1Only}); err != nil {
		p.rs.Stop()
		return nil, err
	}
	return p, nil
}

// splitPublic binds eff.Addr and splits it with portmux, route's TLSConfig
// and routing options (HTTP1Only, HTTPOnly) kept. The connection cap
// covers both sides and the connections being classified (the engine caps
// its share again, which changes nothing; connlimit.Cap rather than
// netutil's: the fasthttp engine's disconnect watcher needs the socket and
// deadlines that reach it at once); a connection that has not shown its
// first request within --read-header-timeout is closed, as the engines
// close one that sends no headers; flood cut-offs are logged. The error is
// a *server.ListenError.
func splitPublic(eff server.Config, log *slog.Logger, route portmux.Options) (grpcL, httpL net.Listener, err error) {
	ln, err := net.Listen("tcp", eff.Addr)
	if err != nil {
		return nil, nil, &server.ListenError{Name: "public", Addr: eff.Addr, Err: err}
	}
	route.PeekTimeout = eff.ReadHeaderTimeout
	route.OnError = portmux.LogFloods(log)
	grpcL, httpL = portmux.Split(connlimit.Cap(ln, eff.MaxConnections, connlimit.WithLogger(log)), route)
	return grpcL, httpL, nil
}

// close releases the port when the HTTP engine could not be set up.
func (p *grpcPort) close() {
	p.rs.Stop()
	p.grpcL.Close()
	p.httpL.Close()
}

// drain is the HTTP engine's OnDrain hook: gRPC health turns NOT_SERVING
// at once; after the drain delay gRPC stops accepting and in-flight calls
// get the shutdown timeout to finish.
func (p *grpcPort) drain() {
	p.draining.Store(true)
	p.rs.SetServing(false)
	go func() {
		defer close(p.stopped)
		if d := p.eff.DrainDelay; d > 0 {
			time.Sleep(d)
		}
		sctx, cancel := context.WithTimeout(context.Background(), p.eff.ShutdownTimeout)
		defer cancel()
		if err := p.rs.Shutdown(sctx); err != nil {
			p.log.Warn("gRPC calls did not finish within the shutdown timeout; closed them", "timeout", p.eff.ShutdownTimeout)
		}
	}()
}

// run serves gRPC beside runHTTP, the HTTP engine's Run (which must call
// drain when its shutdown starts), until runHTTP returns; then it waits for
// the gRPC drain, or stops gRPC at once if the drain never began, and
// returns runHTTP's error, else gRPC's.
func (p *grpcPort) run(ctx context.Context, runHTTP func(context.Context) error) error {
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- p.rs.Serve(p.grpcL) }()
	p.log.Info("gRPC on the public port", "addr", p.grpcL.Addr().String(), "gateway", "/v1/")
	// OnDrain runs inside the engine's Shutdown, which Run calls before it
	// returns: once Run has returned, draining tells whether the gRPC drain
	// was started.
	err := runHTTP(ctx)
	if p.draining.Load() {
		<-p.stopped // bounded by the drain delay plus the shutdown timeout
	} else {
		p.rs.Stop() // Run failed before draining began
	}
	p.grpcL.Close()
	p.httpL.Close()
	gerr := <-grpcDone
	if gerr != nil && err == nil && !errors.Is(gerr, net.ErrClosed) {
		err = gerr
	}
	return err
}

// gatewayHandler hands the request ID chosen by the HTTP middleware to the
// gateway as x-request-id metadata, so the gRPC interceptors use the same
// ID instead of generating a second one.
func gatewayHandler(gw http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := middleware.RequestIDFrom(r.Context()); id != "" {
			r.Header.Set(middleware.RequestIDHeader, id)
		}
		gw.ServeHTTP(w, r)
	})
}
