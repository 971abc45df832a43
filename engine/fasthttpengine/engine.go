package fasthttpengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/internal/connlimit"
	"github.com/hotpath-dev/hotpath/internal/policy"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// EngineName is the value of `hotpath serve --engine` that selects this engine.
const EngineName = "fasthttp"

// ErrUnsupported is wrapped (together with server.ErrInvalidConfig) by New
// when Config asks for something fasthttp cannot do; the message names the
// option and the engine.
var ErrUnsupported = errors.New("not supported by the fasthttp engine")

// Option customises New beyond server.Config.
type Option func(*options)

type options struct {
	log       *slog.Logger
	accessOut io.Writer
	reg       *prometheus.Registry
	ready     *service.Readiness
	ln        net.Listener
}

// WithLogger sets the logger for recovered panics and fasthttp's own errors.
// Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithAccessLogOutput sets where the access log goes when Config.AccessLog is
// on. Default: os.Stderr.
func WithAccessLogOutput(w io.Writer) Option { return func(o *options) { o.accessOut = w } }

// WithRegistry sets the Prometheus registry of the HTTP metrics and of the
// admin /metrics endpoint. Default: a fresh server.NewRegistry().
func WithRegistry(reg *prometheus.Registry) Option { return func(o *options) { o.reg = reg } }

// WithReadiness shares a readiness state. Default: a fresh one.
func WithReadiness(r *service.Readiness) Option { return func(o *options) { o.ready = r } }

// WithListener makes Listen and Run serve public traffic on ln instead of
// binding Config.Addr: the hook for a shared port (the HTTP side of a
// gRPC/HTTP connection splitter such as portmux), like server.WithListener.
// The engine still caps ln at Config.MaxConnections, still binds the admin
// address, reports ln's address as Addr, and closes ln at shutdown or when
// Run fails.
func WithListener(ln net.Listener) Option { return func(o *options) { o.ln = ln } }

// Server is the fasthttp engine. Create it with New, mount handlers with
// Handle before serving, then Run (or Listen and Run). Its methods are meant
// for one owner goroutine; the request path is safe for concurrent use.
type Server struct {
	cfg   server.Config
	log   *slog.Logger
	reg   *prometheus.Registry
	ready *service.Readiness

	pol    policy.Policy // the default chain's pieces (buildChain)
	router *router

	fs     *fasthttp.Server
	admin  *server.Admin
	ln     *connlimit.Listener
	shared net.Listener // WithListener's, until Listen wraps it

	onDrainMu sync.Mutex
	onDrain   []func()

	// base is the parent of request contexts (see Context); hardStop ends
	// it when a shutdown runs out of time.
	base     context.Context
	hardStop context.CancelFunc

	serving      bool
	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg and builds a Server with the service's endpoints
// mounted. Errors caused by cfg wrap server.ErrInvalidConfig; an option
// fasthttp cannot honour (h2c, TLS, which in hotpath means HTTP/2 with ALPN)
// also wraps ErrUnsupported. Nothing listens until Listen or Run.
func New(cfg server.Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := unsupported(cfg); err != nil {
		return nil, err
	}
	o := options{accessOut: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.reg == nil {
		o.reg = server.NewRegistry()
	}
	if o.ready == nil {
		o.ready = &service.Readiness{}
	}
	s := &Server{cfg: cfg, log: o.log, reg: o.reg, ready: o.ready, router: newRouter(), shared: o.ln}
	if err := s.buildChain(o.accessOut); err != nil {
		return nil, err
	}
	for _, r := range serviceRoutes(s.ready) {
		s.Handle(r.pattern, r.h)
	}
	s.base, s.hardStop = context.WithCancel(context.Background())
	s.fs = &fasthttp.Server{
		Handler:      s.serve,
		ErrorHandler: s.serveError,
		Name:         "",
		// fasthttp caps header size with its read buffer; net/http allows
		// MaxHeaderBytes plus 4 KiB of slack, and so do we.
		ReadBufferSize:        cfg.MaxHeaderBytes + 4096,
		MaxRequestBodySize:    int(min(cfg.MaxBodyBytes, int64(maxInt))),
		ReadTimeout:           cfg.ReadHeaderTimeout,
		HeaderReceived:        s.headerReceived,
		ExpectHandler:         s.expect,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		Concurrency:           cfg.MaxConnections + 1, // the listener caps connections; fasthttp must never refuse one
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
		MaxIdleWorkerDuration: maxIdleWorker,
		Logger:                fasthttpLogger{o.log},
	}
	if cfg.AdminAddr != server.AdminOff {
		admin, err := server.NewAdmin(cfg, s.reg)
		if err != nil {
			s.closeAll()
			return nil, err
		}
		s.admin = admin
	}
	return s, nil
}

const maxInt = int(^uint(0) >> 1)

// maxIdleWorker is how long a fasthttp worker goroutine may wait for a
// connection before it is stopped. fasthttp's default, 10 s, kept the 1,000
// goroutines of a 1,000-connection slowloris burst alive for 10 to 20 s
// after the connections were gone (internal/hostile's slowloris case);
// under steady load workers are reused most-recent first, so only
// goroutines beyond the current concurrency ever sit idle this long.
const maxIdleWorker = 2 * time.Second

// unsupported refuses the options fasthttp cannot honour.
func unsupported(cfg server.Config) error {
	bad := func(option, why string) error {
		return fmt.Errorf("%w: %s: %w (%s); use --engine nethttp", server.ErrInvalidConfig, option, ErrUnsupported, why)
	}
	switch {
	case cfg.H2C:
		return bad("h2c", "fasthttp speaks HTTP/1.x only")
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		return bad("tls-cert", "hotpath's TLS mode negotiates HTTP/2 with ALPN, and fasthttp speaks HTTP/1.x only")
	case cfg.TLSSelfSigned:
		return bad("tls-self-signed", "hotpath's TLS mode negotiates HTTP/2 with ALPN, and fasthttp speaks HTTP/1.x only")
	}
	return nil
}

// headerReceived extends the read deadline from ReadHeaderTimeout (which
// covers reading the headers) to ReadTimeout for the body. A request without
// a body (no Content-Length or 0, not chunked: fasthttp reads nothing more
// for it) keeps the deadline it has, which no read will meet: fasthttp sets
// the idle deadline before it reads the connection again. That saves the
// clock read fasthttp makes for the new deadline.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if cl := h.ContentLength(); cl == 0 || cl == -2 {
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{ReadTimeout: s.cfg.ReadTimeout}
}

// Handle mounts h at pattern ("GET /items", "/static/" for a subtree; no
// wildcards) behind the default middleware chain, labelled with the pattern
// in metrics and access logs. GET also answers HEAD; other methods on a known
// path get 405 with Allow. It must be called before serving and panics, with
// a "hotpath:" prefix, on an invalid or conflicting pattern or after serving
// started.
func (s *Server) Handle(pattern string, h fasthttp.RequestHandler) {
	if s.serving {
		panic("hotpath: fasthttpengine: Handle after serving started")
	}
	if err := s.router.add(pattern, h); err != nil {
		panic("hotpath: fasthttpengine: " + err.Error())
	}
}

// Handler is the public handler: the default chain around the router.
func (s *Server) Handler() fasthttp.RequestHandler { return s.serve }

// Readiness is the state behind /readyz; Shutdown flips it.
func (s *Server) Readiness() *service.Readiness { return s.ready }

// Registry is the Prometheus registry served at the admin /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Config is the effective configuration (defaults applied).
func (s *Server) Config() server.Config { return s.cfg }

// OnDrain registers f to run when Shutdown starts draining (the moment
// /readyz turns 503), e.g. to set a gRPC health server to NOT_SERVING, as
// server.Server.OnDrain. f runs on the shutdown path and must not block.
// Safe for concurrent use.
func (s *Server) OnDrain(f func()) {
	s.onDrainMu.Lock()
	defer s.onDrainMu.Unlock()
	s.onDrain = append(s.onDrain, f)
}

// Listen binds the public address (unless WithListener gave one) and,
// unless off, the admin address. On error nothing stays bound (but a
// WithListener listener stays open until Run or Shutdown closes it). Errors
// are *server.ListenError.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln := s.shared
	if ln != nil {
		if s.admin != nil {
			if err := s.admin.Listen(); err != nil {
				return err
			}
		}
	} else {
		var err error
		if ln, err = server.ListenPublic(s.cfg.Addr, s.admin); err != nil {
			return err
		}
	}
	s.ln = connlimit.New(ln, s.cfg.MaxConnections,
		connlimit.Slack(s.cfg.ReadHeaderTimeout, s.cfg.ReadTimeout, s.cfg.IdleTimeout),
		connlimit.Slack(s.cfg.WriteTimeout), connlimit.WithLogger(s.log))
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

// Run listens (if Listen was not called), serves the public and admin
// listeners, and on ctx's end runs Shutdown. It returns nil after a clean
// shutdown, a *server.ListenError if it could not bind, or the first serve
// or shutdown error.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		if s.shared != nil {
			s.shared.Close() // a WithListener listener: nothing may stay bound
		}
		s.closeAll()
		return err
	}
	s.serving = true
	serves := []func() error{func() error {
		if err := s.fs.Serve(s.ln); err != nil {
			return fmt.Errorf("public listener %s: %w", s.ln.Addr(), err)
		}
		return nil
	}}
	if s.admin != nil {
		serves = append(serves, s.admin.Serve)
	}
	return server.ServeUntil(ctx, s.Shutdown, serves...)
}

// Shutdown drains and stops the server like the net/http engine: readiness
// turns 503 at once; after Config.DrainDelay the listener stops accepting
// and idle keep-alive connections close; in-flight requests get up to
// Config.ShutdownTimeout, after which their contexts are cancelled, their
// connections closed and an error returned. The admin listener stops last.
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
	server.DrainDelay(ctx, s.cfg.DrainDelay)
	sctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	var err error
	if s.ln != nil {
		if e := s.fs.ShutdownWithContext(sctx); e != nil {
			// Connections first: a handler that returns on its cancelled
			// context without writing would otherwise get its empty 200
			// out to a client that must see the request as failed.
			s.ln.CloseConns()
			s.hardStop()
			err = fmt.Errorf("shutdown: in-flight requests did not finish within %v: %w", s.cfg.ShutdownTimeout, e)
		}
		s.ln.Close() // Serve may never have run on it
	} else if s.shared != nil {
		s.shared.Close() // never listened on
	}
	if s.admin != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		if e := s.admin.Shutdown(actx); e != nil && err == nil {
			err = e
		}
		acancel()
	}
	if e := s.closeAll(); e != nil && err == nil {
		err = e
	}
	return err
}

// closeAll releases what New acquired: the access log's flusher and the
// request contexts' parent.
func (s *Server) closeAll() error {
	if s.hardStop != nil {
		s.hardStop()
	}
	if err := s.pol.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// fasthttpLogger sends fasthttp's own messages to the engine's logger at
// debug level (they are about misbehaving clients, not the server).
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "engine", EngineName)
	}
}
