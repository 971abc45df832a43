package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"

	"github.com/hotpath-dev/hotpath/middleware"
	"github.com/hotpath-dev/hotpath/portmux"
	"github.com/hotpath-dev/hotpath/rpc"
	"github.com/hotpath-dev/hotpath/server"
)

// serveNetHTTPWithGRPC runs the net/http engine and gRPC on one port:
// portmux splits each accepted connection by its first request, gRPC goes
// to grpc-go's own transport (its fast path), everything else to the
// net/http server, and /v1/... (the HTTP/JSON gateway) is mounted behind the
// HTTP middleware chain and then runs the gRPC interceptors too. On drain,
// gRPC health turns NOT_SERVING with /readyz; after the drain delay gRPC
// stops accepting and lets in-flight calls finish within the shutdown
// timeout, like HTTP.
func serveNetHTTPWithGRPC(ctx context.Context, cfg server.Config, env serveEnv) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	eff := cfg.WithDefaults()
	if len(eff.AuthTokens) > 1 {
		return fmt.Errorf("%w: --auth-token: gRPC accepts one bearer token, got %d (pass one, or --grpc=false)", server.ErrInvalidConfig, len(eff.AuthTokens))
	}
	tlsCfg, err := server.TLSConfig(eff)
	if err != nil {
		return err
	}
	reg := server.NewRegistry()
	rcfg := rpc.Config{
		MaxRecvMsgSize:       int(eff.MaxBodyBytes),
		MaxConcurrentStreams: uint32(eff.H2MaxConcurrentStreams),
		ServerOptions:        []grpc.ServerOption{grpc.Creds(portmux.Credentials())},
		OnPanic: func(method string, v any, stack []byte) {
			env.Log.Error("panic in gRPC handler", "method", method, "panic", fmt.Sprint(v), "stack", string(stack))
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
	rs, err := rpc.New(rcfg, reg)
	if err != nil {
		return fmt.Errorf("%w: grpc: %w", server.ErrInvalidConfig, err)
	}

	ln, err := net.Listen("tcp", eff.Addr)
	if err != nil {
		return &server.ListenError{Name: "public", Addr: eff.Addr, Err: err}
	}
	// The connection cap covers gRPC and HTTP together; the server caps its
	// share again, which changes nothing.
	grpcL, httpL := portmux.Split(netutil.LimitListener(ln, eff.MaxConnections), portmux.Options{TLSConfig: tlsCfg})
	s, err := server.New(cfg,
		server.WithLogger(env.Log),
		server.WithAccessLogOutput(env.AccessLog),
		server.WithRegistry(reg),
		server.WithSharedPort(server.SharedPort{Listener: httpL, TLS: tlsCfg, ConnContext: portmux.ConnContext}),
	)
	if err != nil {
		grpcL.Close()
		httpL.Close()
		return err
	}
	s.Handle("/v1/", gatewayHandler(rs.Gateway()))
	if err := s.Listen(); err != nil { // the admin address; nothing may stay bound
		grpcL.Close()
		httpL.Close()
		return err
	}

	grpcDone := make(chan error, 1)
	go func() { grpcDone <- rs.Serve(grpcL) }()
	// OnDrain runs inside Shutdown, which Run calls before it returns: once
	// Run has returned, draining tells whether the gRPC drain was started.
	var draining atomic.Bool
	stopped := make(chan struct{})
	s.OnDrain(func() {
		draining.Store(true)
		rs.SetServing(false)
		go func() {
			defer close(stopped)
			if d := eff.DrainDelay; d > 0 {
				time.Sleep(d)
			}
			sctx, cancel := context.WithTimeout(context.Background(), eff.ShutdownTimeout)
			defer cancel()
			if err := rs.Shutdown(sctx); err != nil {
				env.Log.Warn("gRPC calls did not finish within the shutdown timeout; closed them", "timeout", eff.ShutdownTimeout)
			}
		}()
	})
	env.Log.Info("gRPC on the public port", "addr", ln.Addr().String(), "gateway", "/v1/")
	err = s.Run(ctx)
	if draining.Load() {
		<-stopped // bounded by the drain delay plus the shutdown timeout
	} else {
		rs.Stop() // Run failed before draining began
	}
	grpcL.Close()
	httpL.Close()
	if gerr := <-grpcDone; gerr != nil && err == nil && !errors.Is(gerr, net.ErrClosed) {
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
