package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/hotpath-dev/hotpath/internal/policy"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// Server is hotpath's gRPC service set: TimeService, EchoService,
// IngestService (with Config.Ingest), health and (unless disabled) reflection on one grpc.Server, plus an in-process
// HTTP/JSON gateway to the unary methods. Its methods are safe for
// concurrent use.
type Server struct {
	cfg     Config
	admit   *admission
	watch   *watchdog // nil without WriteTimeout
	grpc    *grpc.Server
	health  *health.Server
	gateway *Gateway
	names   []string // services reported by health
	hs      healthState
}

// New builds a Server from cfg (zero fields take their documented defaults)
// and registers its metrics on reg; a nil reg disables metrics. It returns an
// error for an invalid Config, a metrics registration conflict, or an
// HTTP rule the gateway cannot serve. Health starts as SERVING (with
// Config.Ready, NOT_SERVING while Ready returns false).
func New(cfg Config, reg prometheus.Registerer) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	unary, stream, m, err := interceptors(cfg, reg)
	if err != nil {
		return nil, err
	}
	unaryChain, streamChain := chainUnary(unary), chainStream(stream)
	s := &Server{cfg: cfg, admit: newAdmission(cfg.Timeout, cfg.MaxInFlight)}
	s.hs.stop, s.hs.done = make(chan struct{}), make(chan struct{})
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(cfg.MaxSendMsgSize),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.MaxHeaderListSize(cfg.MaxHeaderListSize),
		grpc.InitialWindowSize(cfg.InitialWindowSize),
		grpc.InitialConnWindowSize(cfg.InitialConnWindowSize),
		experimental.BufferPool(bufferPool),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             cfg.KeepaliveMinTime,
			PermitWithoutStream: cfg.KeepalivePermitWithoutStream,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:              cfg.KeepaliveTime,
			Timeout:           cfg.KeepaliveTimeout,
			MaxConnectionIdle: cfg.MaxConnectionIdle,
		}),
		grpc.UnaryInterceptor(unaryChain),
		grpc.StreamInterceptor(streamChain),
	}
	if cfg.Timeout > 0 || cfg.MaxInFlight > 0 {
		opts = append(opts, grpc.InTapHandle(s.admit.tap))
	}
	creds := cfg.Creds
	if cfg.WriteTimeout > 0 {
		if creds == nil {
			creds = insecure.NewCredentials()
		}
		s.watch = newWatchdog(cfg.WriteTimeout)
		creds = watchCreds{TransportCredentials: creds, w: s.watch}
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	if cfg.StreamWorkers > 0 {
		opts = append(opts, grpc.NumStreamWorkers(uint32(cfg.StreamWorkers)))
	}
	var sh stats.Handler
	if cfg.TracerProvider != nil {
		prop := cfg.Propagator
		if prop == nil {
			prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
		// No MeterProvider: otelgrpc's metrics go to the global one, a no-op
		// unless a program sets it; hotpath's gRPC metrics are Prometheus'.
		sh = otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(cfg.TracerProvider), otelgrpc.WithPropagators(prop))
		opts = append(opts, grpc.StatsHandler(sh))
		cfg.Propagator = prop
	}
	opts = append(opts, cfg.ServerOptions...)
	s.grpc, s.health = grpc.NewServer(opts...), health.NewServer()

	timeSvc := &timeService{now: cfg.Now}
	hotpathv1.RegisterTimeServiceServer(s.grpc, timeSvc)
	hotpathv1.RegisterEchoServiceServer(s.grpc, echoService{})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	var ingestSvc *ingestService
	if cfg.Ingest != nil {
		ingestSvc = &ingestService{b: cfg.Ingest}
		hotpathv1.RegisterIngestServiceServer(s.grpc, ingestSvc)
	}
	if !cfg.NoReflection {
		reflection.Register(s.grpc)
	}
	if m != nil {
		m.prepare(s.grpc.GetServiceInfo())
	}
	s.names = []string{"", hotpathv1.TimeService_ServiceDesc.ServiceName, hotpathv1.EchoService_ServiceDesc.ServiceName}
	services := []gatewayService{
		{desc: &hotpathv1.TimeService_ServiceDesc, impl: timeSvc},
		{desc: &hotpathv1.EchoService_ServiceDesc, impl: echoService{}},
	}
	if ingestSvc != nil {
		s.names = append(s.names, hotpathv1.IngestService_ServiceDesc.ServiceName)
		services = append(services, gatewayService{desc: &hotpathv1.IngestService_ServiceDesc, impl: ingestSvc})
	}
	s.SetServing(true)

	s.gateway, err = newGateway(gatewayConfig{
		maxBody:     int64(cfg.MaxRecvMsgSize),
		interceptor: unaryChain,
		stats:       sh,
		prop:        cfg.Propagator,
		services:    services,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// interceptors returns the built-in interceptor (see core) followed by the
// Config's own, and the metrics (nil when reg is nil).
func interceptors(cfg Config, reg prometheus.Registerer) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor, *metrics, error) {
	c := &core{echoID: !cfg.NoRequestIDHeader, rec: recoverer{onPanic: cfg.OnPanic}, timeout: cfg.Timeout}
	if reg != nil {
		m, err := newMetrics(reg)
		if err != nil {
			return nil, nil, nil, err
		}
		c.metrics = m
	}
	if cfg.AuthToken != "" {
		c.auth = newBearerAuth(cfg.AuthToken, cfg.AuthExempt, cfg.AuthRequired)
	}
	if cfg.RateLimit != 0 || cfg.RateBurst != 0 {
		l, err := policy.NewRateLimiter(policy.RateLimitConfig{Rate: cfg.RateLimit, Burst: cfg.RateBurst})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("rpc config: rate limit: %w", err)
		}
		c.limiter = l
	}
	unary := append([]grpc.UnaryServerInterceptor{c.unary}, cfg.UnaryInterceptors...)
	stream := append([]grpc.StreamServerInterceptor{c.stream}, cfg.StreamInterceptors...)
	return unary, stream, c.metrics, nil
}

// InFlight returns how many gRPC calls hold a slot of Config.MaxInFlight
// now (0 when there is no cap): calls whose headers arrived and whose
// stream's context has not ended.
func (s *Server) InFlight() int { return s.admit.inFlight() }

// GRPC returns the underlying grpc.Server, to Serve on a listener (its own
// HTTP/2 transport, the fast path) or to register more services before
// serving. Services registered this way get the interceptors but are not
// reached by the gateway.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// ServeHTTP serves a gRPC call that arrived through an HTTP/2 server
// (grpc.Server.ServeHTTP; portmux hands such connections to HTTP when
// their client waits for the server before its first call) with the same
// admission as grpc-go's own transport: the request timeout from the
// moment the call arrives and the in-flight cap (beyond it: UNAVAILABLE,
// trailers only, the request unread). The header list limit and the write
// timeout are the HTTP server's own (MaxHeaderBytes, WriteTimeout).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.watchReady()
	a := s.admit
	if a.max > 0 && !a.admit(r.Context().Done()) { // the slot ends with the request
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(int(codes.Unavailable)))
		h.Set("Grpc-Message", status.Convert(errOverloaded).Message())
		w.WriteHeader(http.StatusOK)
		return
	}
	if a.timeout > 0 {
		// The deadline goes in as the call's grpc-timeout, not as the
		// request context's: grpc-go's handler transport takes a request
		// context that ends for a client that went away (no status sent),
		// and a grpc-timeout for a deadline (DEADLINE_EXCEEDED sent).
		if cur, err := parseTimeout(r.Header.Get("Grpc-Timeout")); err != nil || cur > a.timeout {
			r.Header.Set("Grpc-Timeout", grpcTimeout(a.timeout))
		}
	}
	s.grpc.ServeHTTP(w, r)
}

// Gateway returns the HTTP/JSON handler for the annotated unary methods
// (GET /v1/time, POST /v1/echo, and POST /v1/ingest with Config.Ingest):
// an http.Handler to mount on any net/http
// server, whose Transcode serves other HTTP engines.
func (s *Server) Gateway() *Gateway { return s.gateway }

// Serve serves gRPC on ln until Stop or GracefulStop; see grpc.Server.Serve.
// It returns nil after a stop.
func (s *Server) Serve(ln net.Listener) error {
	s.watchReady()
	if err := s.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("rpc: serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// GracefulStop sets health to NOT_SERVING, stops accepting, and waits for
// in-flight calls to finish.
func (s *Server) GracefulStop() {
	s.SetServing(false)
	s.stopWatch()
	s.grpc.GracefulStop()
}

// Shutdown is GracefulStop bounded by ctx: health goes NOT_SERVING, new
// calls are refused, and in-flight calls may finish until ctx is done; then
// the rest are cancelled (Stop) and ctx's error is returned. It returns nil
// when every call finished in time.
func (s *Server) Shutdown(ctx context.Context) error {
	s.SetServing(false)
	s.stopWatch()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		return fmt.Errorf("rpc: shutdown: %w", ctx.Err())
	}
}

// Stop closes every connection and listener at once, cancelling calls.
func (s *Server) Stop() {
	s.SetServing(false)
	s.stopWatch()
	s.grpc.Stop()
}

// grpcTimeout encodes d as a grpc-timeout value (at most 8 digits).
func grpcTimeout(d time.Duration) string {
	if ms := d.Milliseconds(); ms < 1e8 {
		return strconv.FormatInt(max(ms, 1), 10) + "m"
	}
	return strconv.FormatInt(min(int64(d/time.Second), 1e8-1), 10) + "S"
}
