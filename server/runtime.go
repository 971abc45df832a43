package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/internal/connlimit"
	"github.com/hotpath-dev/hotpath/portmux"
	"github.com/hotpath-dev/hotpath/service"
	"github.com/hotpath-dev/hotpath/tracing"
)

// Engine is what runs a hotpath server, whatever its engine: bind, report
// the addresses, register drain hooks, serve until the context ends and then
// drain and stop. *Runtime implements it, and so does every engine's server
// (they embed *Runtime): the CLI and the conformance suite use it.
type Engine interface {
	Listen() error
	Addr() net.Addr
	AdminAddr() net.Addr
	OnDrain(f func())
	Run(ctx context.Context) error
}

// Transport is an engine's HTTP server without a lifecycle of its own: the
// Runtime binds and caps the listener, serves the admin listener, drains,
// logs and closes; the transport serves connections. Its methods are called
// by the Runtime only, each at most once, Serve on its own goroutine.
type Transport interface {
	// Serve serves ln until Shutdown or Close, then returns nil; it also
	// returns nil when Shutdown ran before it. Any other error ends Run.
	Serve(ln net.Listener) error
	// Shutdown stops accepting, closes idle connections and waits for the
	// requests in flight until ctx ends; then it returns an error and the
	// Runtime calls Close.
	Shutdown(ctx context.Context) error
	// Close closes every connection at once and cancels the requests still
	// running, so that none is answered after it returns.
	Close() error
}

// Capabilities say what a Transport can honour beyond HTTP/1.1 on a listener
// the Runtime binds. NewRuntime checks them once against the Config and the
// options: whatever the transport cannot do is a start-up error wrapping
// ErrInvalidConfig and ErrUnsupported, never ignored.
type Capabilities struct {
	// Engine names the engine in errors and log lines ("nethttp").
	Engine string
	// HTTP2 is TLS (which in hotpath negotiates HTTP/2 with ALPN), h2c, and
	// a shared port's TLS, ConnContext and GRPC fields.
	HTTP2 bool
	// SharedListener is serving on a listener the caller hands over
	// (WithListener, WithSharedPort) instead of one the Runtime binds.
	SharedListener bool
	// OwnConnCap says the transport caps Config.MaxConnections itself: the
	// Runtime then hands Serve the bound listener as is, not wrapped by
	// internal/connlimit (nbio must take over the *net.TCPConn).
	OwnConnCap bool
	// LingeringClose says the transport closes a connection as soon as it
	// has answered, even while the client still sends (fasthttp after a 431
	// or 413): the Runtime's connection layer then closes lingeringly
	// (connlimit.WithLingeringClose, LingerTimeout), so the client reads the
	// answer instead of a reset. net/http lingers itself.
	LingeringClose bool
}

// LingerTimeout bounds a lingering close (Capabilities.LingeringClose): as
// long as net/http waits after answering a request it did not read whole.
const LingerTimeout = 500 * time.Millisecond

// ErrUnsupported is wrapped, together with ErrInvalidConfig, by the error
// of an engine's New when the configuration or an option asks for what the
// engine cannot do; the message names the option and the engine.
var ErrUnsupported = errors.New("not supported")

// Setup is what NewRuntime resolved from the Config and the options, handed
// to the engine's build function to make its handler and Transport.
type Setup struct {
	// Config is the validated configuration with defaults applied.
	Config Config
	// Log is never nil (default: discard).
	Log *slog.Logger
	// Registry is the Prometheus registry of the HTTP metrics and of the
	// admin /metrics.
	Registry *prometheus.Registry
	// Readiness backs /readyz; the Runtime flips it at shutdown.
	Readiness *service.Readiness
	// AccessLog is where the access log goes (default os.Stderr).
	AccessLog io.Writer
	// TLS is the public TLS configuration, nil for cleartext. With Shared
	// set it was terminated before the listener; otherwise the Runtime
	// wraps the listener in it. Never modified.
	TLS *tls.Config
	// Shared is the splitter in front of the transport: WithSharedPort's
	// port, or, for an HTTP/2 transport on a TLS or h2c port the Runtime
	// binds (or WithListener gives), the Runtime's own flood guard (see
	// Runtime), whose Listener is nil here (the Runtime serves it) and whose
	// TLS and ConnContext the transport uses as for a shared port. Nil when
	// nothing splits the port.
	Shared *SharedPort
	// Tracing is the tracer provider when tracing is on (Config's tracing
	// fields or the OTEL_* environment, or WithTracing), nil when off. A
	// provider the Runtime built is flushed and shut down after the engine's
	// closers at shutdown.
	Tracing *tracing.Provider

	closers []io.Closer
}

// AddCloser registers c to be closed once the Runtime has stopped (or when
// New fails after build returned), e.g. the access log's flusher.
func (s *Setup) AddCloser(c io.Closer) { s.closers = append(s.closers, c) }

// Runtime is the one lifecycle of every hotpath engine: it binds the public
// address (capped at Config.MaxConnections, wrapped in TLS when configured)
// and the admin listener, serves both, and on shutdown turns readiness to
// 503, runs the OnDrain hooks, waits Config.DrainDelay, drains the transport
// within Config.ShutdownTimeout, stops the admin listener last and closes
// what the engine registered. Each engine's server embeds it.
//
// An HTTP/2 transport (Capabilities.HTTP2) on a TLS or h2c port that is not
// WithSharedPort's gets package portmux in front of it, every connection
// routed to HTTP (portmux.Options.HTTPOnly), for what net/http's own HTTP/2
// server does not do: cut off SETTINGS, PING, rapid-reset, CONTINUATION and
// empty-frame floods with GOAWAY(ENHANCE_YOUR_CALM) (without it
// internal/hostile's floods ran their full 2 s at one core of server CPU,
// 2026-12-07), and refuse cleartext on a TLS port with a 400. The
// connection cap then also covers connections still in their TLS handshake.
//
// OnDrain is safe for concurrent use; the other methods are meant for one
// owner goroutine.
type Runtime struct {
	cfg   Config
	caps  Capabilities
	log   *slog.Logger
	reg   *prometheus.Registry
	ready *service.Readiness
	tls   *tls.Config
	// given is WithListener's or WithSharedPort's listener, nil when the
	// Runtime binds Config.Addr; preTLS says TLS was terminated before it.
	given  net.Listener
	preTLS bool
	// guard is the Runtime's own splitter in front of an HTTP/2 transport
	// (see Runtime), nil when there is none.
	guard   *portmux.Options
	t       Transport
	admin   *Admin
	closers []io.Closer

	ln     net.Listener        // the public listener once bound (or given)
	capped *connlimit.Listener // ln capped, nil with OwnConnCap or before Listen
	served net.Listener        // what Serve gets: capped, in TLS when configured

	onDrainMu sync.Mutex
	onDrain   []func()

	shutdownOnce sync.Once
	shutdownErr  error
}

// NewRuntime validates cfg, applies the options, checks caps against both,
// and calls build with the result to get the engine's Transport. Errors
// caused by cfg or by an option wrap ErrInvalidConfig and are one line;
// build's errors are returned as they are. Nothing listens until Listen or
// Run. It is the constructor an engine's New wraps.
func NewRuntime(cfg Config, caps Capabilities, build func(*Setup) (Transport, error), opts ...Option) (*Runtime, error) {
	r, err := newRuntime(cfg, caps, build, opts)
	return r, asOneLine(err)
}

func newRuntime(cfg Config, caps Capabilities, build func(*Setup) (Transport, error), opts []Option) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	o := options{accessOut: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	given := o.ln
	if o.shared != nil {
		given = o.shared.Listener
	}
	if err := caps.check(cfg, given != nil, o.shared); err != nil {
		return nil, err
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
	s := &Setup{Config: cfg, Log: o.log, Registry: o.reg, Readiness: o.ready, AccessLog: o.accessOut, Shared: o.shared}
	if o.shared != nil {
		s.TLS = o.shared.TLS
	} else {
		var err error
		if s.TLS, err = tlsConfig(cfg); err != nil {
			return nil, err
		}
	}
	r := &Runtime{cfg: cfg, caps: caps, log: o.log, reg: o.reg, ready: o.ready, tls: s.TLS, given: given, preTLS: o.shared != nil}
	if o.shared == nil && caps.HTTP2 && (s.TLS != nil || cfg.H2C) {
		r.guard = &portmux.Options{TLSConfig: s.TLS, HTTPOnly: true, PeekTimeout: cfg.ReadHeaderTimeout, OnError: portmux.LogFloods(o.log)}
		r.preTLS = true
		s.Shared = &SharedPort{TLS: s.TLS, ConnContext: portmux.ConnContext}
	}
	s.Tracing = o.tracing
	if !o.tracingSet {
		tc := cfg.TracingConfig()
		tc.Log = o.log
		tp, err := tracing.New(context.Background(), tc, o.reg)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		s.Tracing = tp
	}
	t, err := build(s)
	r.closers = s.closers
	if s.Tracing != nil && !o.tracingSet {
		r.closers = append(r.closers, s.Tracing) // last: after the engine's
	}
	if err == nil && cfg.AdminAddr != AdminOff {
		r.admin, err = NewAdmin(cfg, o.reg, WithLogger(o.log))
	}
	if err != nil {
		r.closeAll()
		return nil, err
	}
	r.t = t
	return r, nil
}

// check refuses what the transport cannot honour.
func (c Capabilities) check(cfg Config, given bool, shared *SharedPort) error {
	bad := func(option, why string) error {
		return fmt.Errorf("%w: %s: %w by the %s engine (%s); use --engine nethttp", ErrInvalidConfig, option, ErrUnsupported, c.Engine, why)
	}
	const h1 = "it speaks HTTP/1.x only"
	const h1TLS = "hotpath's TLS mode negotiates HTTP/2 with ALPN, and " + h1
	switch {
	case given && !c.SharedListener:
		return bad("shared listener", "it binds its own listener")
	case c.HTTP2:
		return nil
	case cfg.H2C:
		return bad("h2c", h1)
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		return bad("tls-cert", h1TLS)
	case cfg.TLSSelfSigned:
		return bad("tls-self-signed", h1TLS)
	case shared != nil && (shared.TLS != nil || shared.ConnContext != nil || shared.GRPC != nil):
		return bad("shared port TLS/gRPC", "a shared port with TLS or gRPC over HTTP/2 needs HTTP/2")
	}
	return nil
}

// Readiness is the state behind /readyz; Shutdown flips it.
func (r *Runtime) Readiness() *service.Readiness { return r.ready }

// Registry is the Prometheus registry served at the admin /metrics.
func (r *Runtime) Registry() *prometheus.Registry { return r.reg }

// Config is the effective configuration (defaults applied).
func (r *Runtime) Config() Config { return r.cfg }

// OnDrain registers f to run when Shutdown starts draining (the moment
// /readyz turns 503), e.g. to set a gRPC health server to NOT_SERVING.
// f runs on the shutdown path and must not block. Safe for concurrent use.
func (r *Runtime) OnDrain(f func()) {
	r.onDrainMu.Lock()
	r.onDrain = append(r.onDrain, f)
	r.onDrainMu.Unlock()
}

// Listen binds the public address (unless WithListener or WithSharedPort
// gave a listener) and, unless it is off, the admin address. On error
// nothing it bound stays bound (a given listener stays open until Run or
// Shutdown closes it). Errors are *ListenError. Calling it again after
// success does nothing.
func (r *Runtime) Listen() error {
	if r.served != nil {
		return nil
	}
	var ln net.Listener
	if r.given != nil {
		if r.admin != nil && r.admin.Addr() == nil {
			if err := r.admin.Listen(); err != nil {
				return err
			}
		}
		ln = r.given
	} else {
		var err error
		if ln, err = listenPublic(r.cfg.Addr, r.admin); err != nil {
			return err
		}
	}
	r.ln, r.served = ln, ln
	if r.guard != nil {
		// Capped before the split too, so that connections in their TLS
		// handshake or still being classified count, with connlimit.Cap:
		// the guard's cut-off needs the socket's CloseWrite and exact
		// deadlines. (serve's shared port is arranged the same way.)
		grpcL, httpL := portmux.Split(connlimit.Cap(ln, r.cfg.MaxConnections, connlimit.WithLogger(r.log)), *r.guard)
		grpcL.Close() // HTTPOnly: it never yields a connection; closing httpL then closes ln
		r.served = httpL
	}
	if !r.caps.OwnConnCap {
		// Capped, and with coarse socket deadlines: both HTTP servers move
		// the read deadline several times per request (connlimit).
		opts := []connlimit.Option{connlimit.WithLogger(r.log)}
		if r.caps.LingeringClose {
			opts = append(opts, connlimit.WithLingeringClose(LingerTimeout))
		}
		r.capped = connlimit.New(r.served, r.cfg.MaxConnections,
			connlimit.Slack(r.cfg.ReadHeaderTimeout, r.cfg.ReadTimeout, r.cfg.IdleTimeout),
			connlimit.Slack(r.cfg.WriteTimeout), opts...)
		r.served = r.capped
	}
	if r.tls != nil && !r.preTLS {
		r.served = tls.NewListener(r.served, r.tls)
	}
	return nil
}

// Addr is the bound public address, or nil before Listen.
func (r *Runtime) Addr() net.Addr {
	if r.ln == nil {
		return nil
	}
	return r.ln.Addr()
}

// AdminAddr is the bound admin address, or nil when off or before Listen.
func (r *Runtime) AdminAddr() net.Addr {
	if r.admin == nil {
		return nil
	}
	return r.admin.Addr()
}

// Run listens (if Listen was not called), serves the public and admin
// listeners, and on ctx's end runs Shutdown. It logs the addresses when
// serving starts and a line when shutdown starts and ends. It returns nil
// after a clean shutdown, a *ListenError if it could not bind (closing a
// given listener), or the first serve or shutdown error.
func (r *Runtime) Run(ctx context.Context) error {
	if err := r.Listen(); err != nil {
		if r.given != nil {
			r.given.Close() // nothing may stay bound
		}
		r.closeAll()
		return err
	}
	serves := []func() error{func() error {
		if err := r.t.Serve(r.served); err != nil {
			return fmt.Errorf("public listener %s: %w", r.ln.Addr(), err)
		}
		return nil
	}}
	if r.admin != nil {
		serves = append(serves, r.admin.Serve)
		r.log.Info("admin listening", "addr", r.admin.Addr().String())
	}
	// A cleartext shared port gets h2c from its splitter whatever
	// Config.H2C says; a TLS one serves no cleartext at all.
	r.log.Info("listening", "addr", r.ln.Addr().String(), "engine", r.caps.Engine,
		"tls", r.tls != nil, "h2c", r.caps.HTTP2 && (r.cfg.H2C || (r.preTLS && r.tls == nil)))
	err := serveUntil(ctx, func(sctx context.Context) error {
		r.log.Info("shutting down", "engine", r.caps.Engine, "drain_delay", r.cfg.DrainDelay, "timeout", r.cfg.ShutdownTimeout)
		return r.Shutdown(sctx)
	}, serves...)
	if err == nil {
		r.log.Info("stopped", "engine", r.caps.Engine)
	}
	return err
}

// Shutdown drains and stops the server: readiness turns 503 at once and
// the OnDrain hooks run; after Config.DrainDelay the listener stops
// accepting and idle keep-alive connections close; in-flight requests get
// up to Config.ShutdownTimeout to finish, after which the rest are cut off
// (their connections closed without an answer, their contexts cancelled)
// and an error is returned. The admin listener stops last, so metrics stay
// scrapable while draining. ctx can cut both waits short. Later calls
// return the first call's result.
func (r *Runtime) Shutdown(ctx context.Context) error {
	r.shutdownOnce.Do(func() { r.shutdownErr = r.shutdown(ctx) })
	return r.shutdownErr
}

func (r *Runtime) shutdown(ctx context.Context) error {
	r.ready.SetDraining(true)
	r.onDrainMu.Lock()
	for _, f := range r.onDrain {
		f()
	}
	r.onDrainMu.Unlock()
	drainDelay(ctx, r.cfg.DrainDelay)
	sctx, cancel := context.WithTimeout(ctx, r.cfg.ShutdownTimeout)
	defer cancel()
	var err error
	if e := r.t.Shutdown(sctx); e != nil {
		// Connections first: a handler that returns on its cancelled
		// context without writing must not get its answer out.
		if r.capped != nil {
			r.capped.CloseConns()
		}
		r.t.Close()
		err = fmt.Errorf("shutdown: in-flight requests did not finish within %v: %w", r.cfg.ShutdownTimeout, e)
	}
	if r.served != nil {
		r.served.Close() // Serve may never have run on it
	} else if r.given != nil {
		r.given.Close() // never listened on
	}
	if r.admin != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		if e := r.admin.Shutdown(actx); e != nil && err == nil {
			err = e
		}
		acancel()
	}
	if e := r.closeAll(); e != nil && err == nil {
		err = fmt.Errorf("shutdown: %w", e)
	}
	return err
}

// closeAll closes what the engine registered with Setup.AddCloser, once.
func (r *Runtime) closeAll() error {
	var err error
	for _, c := range r.closers {
		if e := c.Close(); e != nil && err == nil {
			err = e
		}
	}
	r.closers = nil
	return err
}
