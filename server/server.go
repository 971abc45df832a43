package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/internal/connlimit"
	"github.com/hotpath-dev/hotpath/middleware"
	"github.com/hotpath-dev/hotpath/service"
)

// Option customises New beyond Config: things that are not declarative
// settings (loggers, writers, shared state).
type Option func(*options)

type options struct {
	ln        net.Listener
	log       *slog.Logger
	accessOut io.Writer
	reg       *prometheus.Registry
	ready     *service.Readiness
	shared    *SharedPort
}

// WithLogger sets the logger for start-up, shutdown, recovered panics and
// net/http's own errors. Default: discard (library code never logs
// globally).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithAccessLogOutput sets where the access log goes when Config.AccessLog
// is on. Default: os.Stderr.
func WithAccessLogOutput(w io.Writer) Option { return func(o *options) { o.accessOut = w } }

// WithRegistry sets the Prometheus registry for the HTTP metrics and the
// admin /metrics endpoint. Default: a fresh NewRegistry().
func WithRegistry(reg *prometheus.Registry) Option { return func(o *options) { o.reg = reg } }

// WithListener makes Listen and Run serve public traffic on ln instead of
// binding Config.Addr: the hook for a shared port (e.g. the HTTP side of a
// gRPC/HTTP connection splitter). The server closes ln at shutdown.
func WithListener(ln net.Listener) Option { return func(o *options) { o.ln = ln } }

// WithReadiness shares a readiness state (e.g. with a gRPC health server).
// Default: a fresh one.
func WithReadiness(r *service.Readiness) Option { return func(o *options) { o.ready = r } }

// Server is the net/http engine: the service's routes plus the caller's on
// one ServeMux behind the default middleware chain, a public listener with
// Config's limits and an optional admin listener. Create it with New.
// Handle may be called concurrently with serving; the other methods are
// meant for one owner goroutine.
type Server struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	ready   *service.Readiness
	mux     *http.ServeMux
	handler http.Handler
	closers []io.Closer
	http    *http.Server
	tls     *tls.Config // nil without TLS; never modified after New
	preTLS  bool        // TLS is terminated before the listener (SharedPort)
	admin   *Admin
	ln      net.Listener

	onDrainMu sync.Mutex
	onDrain   []func()

	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg and builds a Server with the service's endpoints
// mounted. Errors caused by cfg (including an unreadable TLS certificate)
// wrap ErrInvalidConfig; every error message is one line. Nothing listens
// until Listen, Serve or Run.
func New(cfg Config, opts ...Option) (*Server, error) {
	s, err := newServer(cfg, opts...)
	return s, asOneLine(err)
}

func newServer(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	o := options{accessOut: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.reg == nil {
		o.reg = NewRegistry()
	}
	if o.ready == nil {
		o.ready = &service.Readiness{}
	}
	var tlsCfg *tls.Config
	var err error
	if o.shared != nil {
		tlsCfg, o.ln = o.shared.TLS, o.shared.Listener
	} else if tlsCfg, err = tlsConfig(cfg); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: o.log, reg: o.reg, ready: o.ready, mux: http.NewServeMux(), tls: tlsCfg, ln: o.ln, preTLS: o.shared != nil}
	for _, r := range service.Routes(s.ready) {
		s.Handle(r.Pattern, r.Handler)
	}
	chain, closers, err := defaultChain(cfg, o.log, o.reg, o.accessOut, s.routePattern)
	if err != nil {
		return nil, err
	}
	s.closers = closers
	s.handler = chain(s.mux)

	var protos http.Protocols
	protos.SetHTTP1(true)
	if tlsCfg != nil {
		protos.SetHTTP2(true)
	}
	protos.SetUnencryptedHTTP2(cfg.H2C)
	if o.shared != nil {
		// The splitter hands HTTP/2 over in cleartext: decrypted from TLS,
		// or h2c with prior knowledge, which a port shared with gRPC
		// speaks anyway (closing an HTTP request that came that way, as
		// net/http would without h2c, only confuses the client).
		protos.SetUnencryptedHTTP2(true)
	}
	s.http = &http.Server{
		Handler:           o.shared.handler(s.handler),
		Protocols:         &protos,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: cfg.H2MaxConcurrentStreams},
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          errorLog(o.log),
	}
	if o.shared != nil {
		s.http.ConnContext = o.shared.ConnContext
	}
	if cfg.AdminAddr != AdminOff {
		if s.admin, err = NewAdmin(cfg, o.reg, WithLogger(o.log)); err != nil {
			s.closeAll()
			return nil, err
		}
	}
	return s, nil
}

// Handle mounts h at a net/http ServeMux pattern ("GET /items/{id}")
// behind the same middleware chain as the service's routes, labelled with
// the pattern in metrics and access logs. It panics, as ServeMux does, on
// an invalid or conflicting pattern.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, middleware.Labeled(pattern, h))
}

// routePattern is the mux pattern r would reach ("" for none), the metrics
// label of a request refused before the mux.
func (s *Server) routePattern(r *http.Request) string {
	_, pattern := s.mux.Handler(r)
	return pattern
}

// Handler is the public handler: the middleware chain around the mux. Use
// it to serve through another listener arrangement (e.g. a shared port).
func (s *Server) Handler() http.Handler { return s.handler }

// Readiness is the state behind /readyz; Shutdown flips it.
func (s *Server) Readiness() *service.Readiness { return s.ready }

// Registry is the Prometheus registry served at the admin /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Config is the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// OnDrain registers f to run when Shutdown starts draining (the moment
// /readyz turns 503), e.g. to set a gRPC health server to NOT_SERVING.
// f runs on the shutdown path and must not block. Safe for concurrent use.
func (s *Server) OnDrain(f func()) {
	s.onDrainMu.Lock()
	s.onDrain = append(s.onDrain, f)
	s.onDrainMu.Unlock()
}

// Listen binds the public address (unless WithListener gave one) and,
// unless it is off, the admin address. On error nothing stays bound.
// Errors are *ListenError. Calling it again after success does nothing.
func (s *Server) Listen() error {
	if s.ln != nil && (s.admin == nil || s.admin.Addr() != nil) {
		return nil
	}
	if s.ln != nil { // WithListener: only the admin address to bind
		return s.admin.Listen()
	}
	ln, err := ListenPublic(s.cfg.Addr, s.admin)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// Addr is the bound public address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// AdminAddr is the bound admin address, or nil when off or before Listen.
func (s *Server) AdminAddr() net.Addr {
	if s.admin == nil {
		return nil
	}
	return s.admin.Addr()
}

// Serve serves public traffic on ln until Shutdown and then returns nil,
// after which Shutdown still waits for in-flight requests. ln is capped at
// Config.MaxConnections and, when TLS is configured, wrapped in TLS. It
// does not start the admin listener (Run does).
func (s *Server) Serve(ln net.Listener) error {
	// Capped, and with coarse socket deadlines: net/http moves the read
	// deadline five times per request when timeouts are set (connlimit).
	ln = connlimit.New(ln, s.cfg.MaxConnections,
		connlimit.Slack(s.cfg.ReadHeaderTimeout, s.cfg.ReadTimeout, s.cfg.IdleTimeout),
		connlimit.Slack(s.cfg.WriteTimeout), connlimit.WithLogger(s.log))
	var err error
	if s.tls != nil && !s.preTLS {
		err = s.http.Serve(tls.NewListener(ln, s.tls))
	} else {
		err = s.http.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("public listener %s: %w", ln.Addr(), err)
}

// Run listens (if Listen was not called), serves the public and admin
// listeners, and on ctx's end runs Shutdown. It returns nil after a clean
// shutdown, a *ListenError if it could not bind, or the first serve or
// shutdown error.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		if s.ln != nil {
			s.ln.Close() // a WithListener listener: nothing may stay bound
		}
		s.closeAll()
		return err
	}
	serves := []func() error{func() error { return s.Serve(s.ln) }}
	if s.admin != nil {
		serves = append(serves, s.admin.Serve)
		s.log.Info("admin listening", "addr", s.admin.Addr().String())
	}
	// A shared port (preTLS) gets h2c from its splitter whatever Config.H2C says.
	s.log.Info("listening", "addr", s.ln.Addr().String(), "tls", s.tls != nil, "h2c", s.cfg.H2C || s.preTLS)
	err := ServeUntil(ctx, func(sctx context.Context) error {
		s.log.Info("shutting down", "drain_delay", s.cfg.DrainDelay, "timeout", s.cfg.ShutdownTimeout)
		return s.Shutdown(sctx)
	}, serves...)
	if err == nil {
		s.log.Info("stopped")
	}
	return err
}

// Shutdown drains and stops the server: readiness turns 503 at once; after
// Config.DrainDelay the listeners stop accepting and idle keep-alive
// connections close; in-flight requests get up to Config.ShutdownTimeout
// to finish, after which the rest are closed and an error is returned.
// The admin listener stops last, so metrics stay scrapable while draining.
// ctx can cut both waits short. Later calls return the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.ready.SetDraining(true)
	s.onDrainMu.Lock()
	for _, f := range s.onDrain {
		f()
	}
	s.onDrainMu.Unlock()
	DrainDelay(ctx, s.cfg.DrainDelay)
	sctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	var err error
	if e := s.http.Shutdown(sctx); e != nil {
		s.http.Close()
		err = fmt.Errorf("shutdown: in-flight requests did not finish within %v: %w", s.cfg.ShutdownTimeout, e)
	}
	if s.ln != nil {
		s.ln.Close() // Serve may never have run on it
	}
	if s.admin != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		if e := s.admin.Shutdown(actx); e != nil && err == nil {
			err = e
		}
		acancel()
	}
	for _, c := range s.closers {
		if e := c.Close(); e != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", e)
		}
	}
	return err
}

// errorLog routes net/http's own error lines (accept errors, TLS handshake
// failures) to l at Warn, or discards them when l is nil: never the global
// logger.
func errorLog(l *slog.Logger) *log.Logger {
	if l == nil {
		return log.New(io.Discard, "", 0)
	}
	return slog.NewLogLogger(l.Handler(), slog.LevelWarn)
}

// closeAll releases what New and Listen acquired when Run cannot start.
func (s *Server) closeAll() {
	for _, c := range s.closers {
		c.Close()
	}
	s.closers = nil
}
