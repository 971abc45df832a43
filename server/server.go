package server

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/middleware"
	"github.com/hotpath-dev/hotpath/service"
)

// Option customises an engine's New (any engine's: they all build on
// NewRuntime) beyond Config: things that are not declarative settings
// (loggers, writers, shared state, a given listener). An option the engine
// cannot honour makes New fail with ErrUnsupported.
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
// gRPC/HTTP connection splitter). The Runtime caps ln at
// Config.MaxConnections, wraps it in TLS when configured, still binds the
// admin address, reports ln's address as Addr, and closes ln at shutdown or
// when Run fails. Engines that bind their own listener (nbio) refuse it.
func WithListener(ln net.Listener) Option { return func(o *options) { o.ln = ln } }

// WithReadiness shares a readiness state (e.g. with a gRPC health server).
// Default: a fresh one.
func WithReadiness(r *service.Readiness) Option { return func(o *options) { o.ready = r } }

// EngineName is the value of `hotpath serve --engine` that selects this
// package's engine, net/http.
const EngineName = "nethttp"

// Server is the net/http engine: a Runtime whose transport is net/http's
// server (HTTP/1.1, HTTP/2 over TLS, h2c) and whose handler is a ServeMux behind the default middleware chain
// (nbioengine's New returns one on nbio's transport). It
// serves the probes (/healthz, /readyz) and what the caller mounts with
// Handle (service.Register mounts the seed's endpoints). Create it with
// New. Handle may be called concurrently with serving; the lifecycle
// methods are the Runtime's.
type Server struct {
	*Runtime
	mux *httpMux
}

// New validates cfg and builds a Server serving the probes. Errors caused
// by cfg (including an unreadable TLS certificate) wrap ErrInvalidConfig;
// every error message is one line. Nothing listens until Listen or Run.
func New(cfg Config, opts ...Option) (*Server, error) {
	caps := Capabilities{Engine: EngineName, HTTP2: true, SharedListener: true}
	return NewWithTransport(cfg, caps, func(st *Setup, h http.Handler) (Transport, error) {
		return newHTTPTransport(st, h), nil
	}, opts...)
}

// NewWithTransport is New on another transport that serves net/http
// Handlers (nbioengine's): transport gets the Setup and the handler
// (the chain around the routes) and returns the Transport; caps are checked
// as NewRuntime does.
func NewWithTransport(cfg Config, caps Capabilities, transport func(*Setup, http.Handler) (Transport, error), opts ...Option) (*Server, error) {
	s := &Server{}
	rt, err := NewRuntime(cfg, caps, func(st *Setup) (Transport, error) {
		var err error
		if s.mux, err = newMux(st); err != nil {
			return nil, err
		}
		return transport(st, s.mux.handler)
	}, opts...)
	if err != nil {
		return nil, err
	}
	s.Runtime = rt
	return s, nil
}

// Handle mounts h at a net/http ServeMux pattern ("GET /items/{id}")
// behind the default middleware chain, labelled with the pattern in
// metrics and access logs. It panics, as ServeMux does, on an invalid or
// conflicting pattern.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the public handler: the middleware chain around the mux. Use
// it to serve through another listener arrangement.
func (s *Server) Handler() http.Handler { return s.mux }

// httpMux is the router and default middleware chain of the engines that
// serve net/http Handlers (this package's and nbioengine): a ServeMux
// whose routes are labelled with their pattern, behind the chain built from
// the Config (policy.Order). Handle is safe for concurrent use with serving.
type httpMux struct {
	mux     *http.ServeMux
	handler http.Handler // the chain around mux
}

// newMux builds an httpMux for st with the probes (/healthz, /readyz) mounted;
// the access log's flusher is registered with st.AddCloser. Errors wrap
// ErrInvalidConfig when the configuration is the cause.
func newMux(st *Setup) (*httpMux, error) {
	m := &httpMux{mux: http.NewServeMux()}
	for _, r := range service.Probes(st.Readiness) {
		m.Handle(r.Pattern, r.Handler)
	}
	chain, closers, err := defaultChain(st.Config, st.Log, st.Registry, st.AccessLog, m.routePattern)
	if err != nil {
		return nil, err
	}
	for _, c := range closers {
		st.AddCloser(c)
	}
	m.handler = chain(m.mux)
	return m, nil
}

// Handle mounts h at a net/http ServeMux pattern behind the chain,
// labelled with the pattern in metrics and access logs. It panics, as
// ServeMux does, on an invalid or conflicting pattern.
func (m *httpMux) Handle(pattern string, h http.Handler) {
	m.mux.Handle(pattern, middleware.Labeled(pattern, h))
}

// ServeHTTP runs the chain and then the route r matches.
func (m *httpMux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// routePattern is the mux pattern r would reach ("" for none), the metrics
// label of a request refused before the mux.
func (m *httpMux) routePattern(r *http.Request) string {
	_, pattern := m.mux.Handler(r)
	return pattern
}

// httpTransport is net/http's server as the Runtime's Transport.
type httpTransport struct{ srv *http.Server }

func newHTTPTransport(st *Setup, h http.Handler) *httpTransport {
	cfg := st.Config
	var protos http.Protocols
	protos.SetHTTP1(true)
	if st.TLS != nil {
		protos.SetHTTP2(true)
	}
	protos.SetUnencryptedHTTP2(cfg.H2C)
	if st.Shared != nil {
		// The splitter hands HTTP/2 over in cleartext: decrypted from TLS,
		// or h2c with prior knowledge, which a port shared with gRPC
		// speaks anyway (closing an HTTP request that came that way, as
		// net/http would without h2c, only confuses the client).
		protos.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{
		Handler:           st.Shared.handler(h),
		Protocols:         &protos,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: cfg.H2MaxConcurrentStreams},
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          errorLog(st.Log),
	}
	if st.Shared != nil {
		srv.ConnContext = st.Shared.ConnContext
	}
	return &httpTransport{srv}
}

func (t *httpTransport) Serve(ln net.Listener) error {
	if err := t.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (t *httpTransport) Shutdown(ctx context.Context) error { return t.srv.Shutdown(ctx) }
func (t *httpTransport) Close() error                       { return t.srv.Close() }

// errorLog routes net/http's own error lines (accept errors, TLS handshake
// failures) to l at Warn, or discards them when l is nil: never the global
// logger.
func errorLog(l *slog.Logger) *log.Logger {
	if l == nil {
		return log.New(io.Discard, "", 0)
	}
	return slog.NewLogLogger(l.Handler(), slog.LevelWarn)
}
