package server

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"

	"github.com/hotpath-dev/hotpath/middleware"
	"github.com/hotpath-dev/hotpath/service"
)

// EngineName is the value of `hotpath serve --engine` that selects this
// package's engine, net/http.
const EngineName = "nethttp"

// Server is the net/http engine: a Runtime whose transport is net/http's
// server (HTTP/1.1, HTTP/2 over TLS, h2c) and whose handler is a ServeMux
// behind the default middleware chain (nbioengine's New returns one on
// nbio's transport). It serves the probes (/healthz, /readyz) and what the
// caller mounts with Handle (service.Register mounts the seed's endpoints).
// Create it with New. Handle may be called concurrently with serving; the
// lifecycle methods are the Runtime's.
type Server struct {
	*Runtime
	mux     *http.ServeMux
	handler http.Handler // the chain around mux
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
// Handlers (nbioengine's): transport gets the Setup and the handler (the
// chain around the routes) and returns the Transport; caps are checked as
// NewRuntime does.
func NewWithTransport(cfg Config, caps Capabilities, transport func(*Setup, http.Handler) (Transport, error), opts ...Option) (*Server, error) {
	s := &Server{mux: http.NewServeMux()}
	rt, err := NewRuntime(cfg, caps, func(st *Setup) (Transport, error) {
		for _, r := range service.Probes(st.Readiness) {
			s.Handle(r.Pattern, r.Handler)
		}
		chain, closers, err := defaultChain(st, s.routePattern)
		if err != nil {
			return nil, err
		}
		for _, c := range closers {
			st.AddCloser(c)
		}
		s.handler = chain(s.mux)
		return transport(st, s.handler)
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
// it to serve through another listener arrangement.
func (s *Server) Handler() http.Handler { return s.handler }

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
