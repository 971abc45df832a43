package fasthttpengine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/internal/policy"
	"github.com/hotpath-dev/hotpath/server"
)

// EngineName is the value of `hotpath serve --engine` that selects this engine.
const EngineName = "fasthttp"

// ErrUnsupported is wrapped (together with server.ErrInvalidConfig) by New
// when Config or an option asks for something fasthttp cannot do (h2c, TLS,
// which in hotpath means HTTP/2 with ALPN, a shared port's TLS or gRPC
// over HTTP/2); the message names the option and the engine.
var ErrUnsupported = server.ErrUnsupported

// Server is the fasthttp engine: a server.Runtime (listen, connection cap,
// admin listener, drain, logs) whose transport is fasthttp and whose
// handler is a fasthttp.RequestHandler router behind the default chain. It
// serves the probes (/healthz, /readyz) and what the caller mounts with
// Handle (RegisterService mounts the seed's endpoints). Create it with New,
// mount handlers before serving, then Run. Its methods are meant for one
// owner goroutine; the request path is safe for concurrent use.
type Server struct {
	*server.Runtime

	cfg server.Config
	log *slog.Logger
	reg *prometheus.Registry

	pol    policy.Policy // the default chain's pieces (buildChain)
	router *router
	fs     *fasthttp.Server

	// base is the parent of request contexts (see Context); hardStop ends
	// it when a shutdown runs out of time.
	base     context.Context
	hardStop context.CancelFunc

	serving atomic.Bool
}

// New validates cfg and builds a Server serving the probes. opts are
// package server's (logger, access-log output, registry, readiness, a
// listener handed over); a shared port's TLS, ConnContext or GRPC, and h2c
// or TLS in cfg, are refused with an error wrapping ErrUnsupported. Errors
// caused by cfg wrap server.ErrInvalidConfig. Nothing listens until Listen
// or Run.
func New(cfg server.Config, opts ...server.Option) (*Server, error) {
	s := &Server{router: newRouter()}
	caps := server.Capabilities{Engine: EngineName, SharedListener: true, LingeringClose: true}
	rt, err := server.NewRuntime(cfg, caps, func(st *server.Setup) (server.Transport, error) {
		s.cfg, s.log, s.reg = st.Config, st.Log, st.Registry
		if err := s.buildChain(st); err != nil {
			return nil, err
		}
		s.base, s.hardStop = context.WithCancel(context.Background())
		st.AddCloser(stopCloser(s.hardStop))
		st.AddCloser(&s.pol)
		s.Handle("GET /healthz", healthzHandler)
		s.Handle("GET /readyz", readyzHandler(st.Readiness))
		s.fs = s.newFastHTTP()
		return transport{s}, nil
	}, opts...)
	if err != nil {
		return nil, err
	}
	s.Runtime = rt
	return s, nil
}

// newFastHTTP maps the configuration onto fasthttp's.
func (s *Server) newFastHTTP() *fasthttp.Server {
	cfg := s.cfg
	return &fasthttp.Server{
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
		Logger:                fasthttpLogger{s.log},
	}
}

// transport is fasthttp's server as the Runtime's Transport.
type transport struct{ s *Server }

func (t transport) Serve(ln net.Listener) error {
	t.s.serving.Store(true)
	return t.s.fs.Serve(ln)
}

func (t transport) Shutdown(ctx context.Context) error { return t.s.fs.ShutdownWithContext(ctx) }

// Close cancels the contexts of the requests still running; the Runtime
// has closed their connections first, so a handler that returns on its
// cancelled context without writing gets no empty 200 out.
func (t transport) Close() error {
	t.s.hardStop()
	return nil
}

// stopCloser is a cancel function as an io.Closer.
type stopCloser context.CancelFunc

func (f stopCloser) Close() error {
	f()
	return nil
}

const maxInt = int(^uint(0) >> 1)

// maxIdleWorker is how long a fasthttp worker goroutine may wait for a
// connection before it is stopped. fasthttp's default, 10 s, kept the 1,000
// goroutines of a 1,000-connection slowloris burst alive for 10 to 20 s
// after the connections were gone (internal/hostile's slowloris case);
// under steady load workers are reused most-recent first, so only
// goroutines beyond the current concurrency ever sit idle this long.
const maxIdleWorker = 2 * time.Second

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
	if s.serving.Load() {
		panic("hotpath: fasthttpengine: Handle after serving started")
	}
	if err := s.router.add(pattern, h); err != nil {
		panic("hotpath: fasthttpengine: " + err.Error())
	}
}

// Handler is the public handler: the default chain around the router.
func (s *Server) Handler() fasthttp.RequestHandler { return s.serve }

// fasthttpLogger sends fasthttp's own messages to the engine's logger at
// debug level (they are about misbehaving clients, not the server).
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "engine", EngineName)
	}
}
