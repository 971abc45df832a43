package nbioengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// EngineName is the value of `hotpath serve --engine` that selects this engine.
const EngineName = "nbio"

// ErrUnsupported is wrapped (together with server.ErrInvalidConfig) by New
// when Config asks for something nbio cannot do; the message names the option
// and the engine.
var ErrUnsupported = errors.New("not supported by the nbio engine")

// Server is the nbio engine. Create it with New, mount handlers with Handle,
// then Run (or Listen and Run). Its methods are meant for one owner
// goroutine; the request path is safe for concurrent use.
type Server struct {
	cfg    server.Config
	log    *slog.Logger
	hs     *server.Server // supplies the handler, registry, readiness and closers; never listens
	engine *nbhttp.Engine
	admin  *server.Admin
	ln     *listener
	conns  *connTable
	states states   // per-connection framer and read deadlines (connstate.go)
	exec   *workers // runs nbio's request tasks

	stopWatch   chan struct{} // ends the close watcher and the deadline sweeper
	watcherDone chan struct{}
	sweeperDone chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg and builds a Server with the service's endpoints
// mounted. opts are package server's options (logger, access-log output,
// registry, readiness). Errors caused by cfg wrap server.ErrInvalidConfig;
// an option nbio cannot honour (h2c, TLS with HTTP/2) also wraps
// ErrUnsupported. Nothing listens until Listen or Run.
func New(cfg server.Config, opts ...server.Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := unsupported(cfg); err != nil {
		return nil, err
	}
	inner := cfg
	inner.AdminAddr = server.AdminOff // this engine runs the admin listener itself
	hs, err := server.New(inner, opts...)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, hs: hs, conns: newConnTable()}
	s.states.maxHead = cfg.MaxHeaderBytes + 4096 // net/http's slack, for the same threshold
	s.states.maxBody = cfg.MaxBodyBytes
	s.states.readHeaderTimeout, s.states.readTimeout = cfg.ReadHeaderTimeout, cfg.ReadTimeout
	s.states.idleTimeout = cfg.IdleTimeout
	if cfg.AdminAddr != server.AdminOff {
		if s.admin, err = server.NewAdmin(cfg, hs.Registry()); err != nil {
			s.closeInner()
			return nil, err
		}
	}
	return s, nil
}

// unsupported refuses the options nbio cannot honour.
func unsupported(cfg server.Config) error {
	bad := func(option, why string) error {
		return fmt.Errorf("%w: %s: %w (%s); use --engine nethttp", server.ErrInvalidConfig, option, ErrUnsupported, why)
	}
	switch {
	case cfg.H2C:
		return bad("h2c", "nbhttp speaks HTTP/1.x only")
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		return bad("tls-cert", "hotpath's TLS mode negotiates HTTP/2 with ALPN, and nbhttp speaks HTTP/1.x only")
	case cfg.TLSSelfSigned:
		return bad("tls-self-signed", "hotpath's TLS mode negotiates HTTP/2 with ALPN, and nbhttp speaks HTTP/1.x only")
	}
	return nil
}

// Handle mounts h at a net/http ServeMux pattern behind the default chain,
// exactly as server.Server.Handle does (same labels, same panics).
func (s *Server) Handle(pattern string, h http.Handler) { s.hs.Handle(pattern, h) }

// Readiness is the state behind /readyz; Shutdown flips it.
func (s *Server) Readiness() *service.Readiness { return s.hs.Readiness() }

// Registry is the Prometheus registry served at the admin /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.hs.Registry() }

// Config is the effective configuration (defaults applied).
func (s *Server) Config() server.Config { return s.cfg }

// Listen binds the public address and, unless off, the admin address, and
// starts nbio's pollers. On error nothing stays bound. Errors are
// *server.ListenError.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln, err := server.ListenPublic(s.cfg.Addr, s.admin)
	if err != nil {
		return err
	}
	s.ln = newListener(ln, s.cfg.MaxConnections)
	s.exec = newWorkers()
	s.engine = nbhttp.NewEngine(s.engineConfig())
	s.engine.OnOpen(func(c net.Conn) {
		var st *connState
		if nc, ok := c.(*nbio.Conn); ok {
			st = s.states.open(nc)
		}
		s.conns.open(c, st)
	})
	s.engine.OnClose(func(c net.Conn, _ error) {
		if nc, ok := c.(*nbio.Conn); ok {
			s.states.close(nc)
		}
		s.conns.close(c)
		s.ln.release()
	})
	// Every byte a client sends goes through the framer before nbio's
	// parser (framer.go). This replaces the data handler nbhttp.NewEngine
	// installed, which only called each connection's parser.
	s.engine.Engine.OnData(s.onData)
	if err := s.engine.Start(); err != nil {
		s.exec.close(time.Second)
		s.ln.Close()
		if s.admin != nil {
			s.admin.Shutdown(context.Background())
		}
		return &server.ListenError{Name: "public", Addr: s.cfg.Addr, Err: err}
	}
	s.stopWatch, s.watcherDone, s.sweeperDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.watcherDone)
		s.conns.watch(closeCheckInterval, s.stopWatch)
	}()
	go func() {
		defer close(s.sweeperDone)
		s.states.sweepLoop(sweepInterval(s.cfg.ReadHeaderTimeout, s.cfg.ReadTimeout, s.cfg.IdleTimeout), s.stopWatch)
	}()
	return nil
}

// closeCheckInterval is how often requests in flight are checked for a
// closed connection: the longest a handler runs on after its client left.
const closeCheckInterval = 20 * time.Millisecond

// engineConfig maps server.Config onto nbhttp's.
func (s *Server) engineConfig() nbhttp.Config {
	// nbio logs through a package-level logger; library code must not
	// print, so it is silenced. Errors that matter surface as responses,
	// metrics or returned errors.
	logging.SetLevel(logging.LevelNone)
	maxBody := int(min(2*s.cfg.MaxBodyBytes, int64(maxInt/4))) + 64<<10
	maxHeader := s.cfg.MaxHeaderBytes + 4096
	return nbhttp.Config{
		Name:    "hotpath",
		Network: "tcp",
		Addrs:   []string{s.ln.Addr().String()},
		Listen:  func(string, string) (net.Listener, error) { return s.ln, nil },
		Handler: s.wrap(s.hs.Handler()),
		// Long-lived workers instead of a goroutine per request (see workers).
		ServerExecutor: s.exec.Go,
		// The listener queues connections over MaxConnections; nbio must
		// never refuse one itself.
		MaxLoad: s.cfg.MaxConnections + 1,
		// nbio reads whole requests before the handler runs. The framer
		// hands it bodies up to MaxBodyBytes only (framer.go); these limits
		// are a backstop.
		MaxHTTPBodySize: maxBody,
		ReadLimit:       2*maxHeader + maxBody,
		// nbio's one read deadline (set at the accept and after each
		// response) would cut a request still being read at
		// --idle-timeout; the engine's own deadlines (connstate.go) do
		// read-header, read and idle instead.
		KeepaliveTime: nbioReadDeadline,
		WriteTimeout:  s.cfg.WriteTimeout,
	}
}

const maxInt = int(^uint(0) >> 1)

// nbioReadDeadline keeps nbio's own read deadline out of the way.
const nbioReadDeadline = 24 * time.Hour

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

// Run listens (if Listen was not called), serves until ctx ends, then runs
// Shutdown. It returns nil after a clean shutdown, a *server.ListenError if
// it could not bind, or the first serve or shutdown error.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		s.closeInner()
		return err
	}
	// nbio's engine serves the public listener on its own pollers (started
	// by Listen); the run loop only has the admin listener to serve.
	var serves []func() error
	if s.admin != nil {
		serves = append(serves, s.admin.Serve)
	}
	return server.ServeUntil(ctx, s.Shutdown, serves...)
}

// Shutdown drains and stops the server like the net/http engine: readiness
// turns 503 at once; after Config.DrainDelay the listener stops accepting,
// responses carry Connection: close and idle connections are closed; in-flight
// requests get up to Config.ShutdownTimeout, after which their contexts are
// cancelled, every connection is closed and an error returned. The admin
// listener stops last. Later calls return the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.hs.Readiness().SetDraining(true)
	server.DrainDelay(ctx, s.cfg.DrainDelay)
	sctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	var err error
	if s.engine != nil {
		s.conns.setDraining()
		s.ln.stopAccepting()
		if e := s.conns.drain(sctx); e != nil {
			s.conns.cutAll()
			err = fmt.Errorf("shutdown: in-flight requests did not finish within %v: %w", s.cfg.ShutdownTimeout, e)
		}
		s.engine.Stop() // also closes s.ln
		close(s.stopWatch)
		<-s.watcherDone
		<-s.sweeperDone
		// Every connection is closed and every request was waited for or
		// cancelled; a handler that ignores its context can still hold a
		// worker, which is not waited for beyond this.
		s.exec.close(time.Second)
	}
	if s.admin != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		if e := s.admin.Shutdown(actx); e != nil && err == nil {
			err = e
		}
		acancel()
	}
	if e := s.closeInner(); e != nil && err == nil {
		err = e
	}
	return err
}

// closeInner releases what the inner net/http server acquired (the access
// log's flusher). Its Shutdown, given an ended context and no listener,
// skips the drain delay and only closes them.
func (s *Server) closeInner() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.hs.Shutdown(ctx)
}
