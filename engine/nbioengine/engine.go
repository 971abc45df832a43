package nbioengine

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"

	"github.com/hotpath-dev/hotpath/server"
)

// EngineName is the value of `hotpath serve --engine` that selects this engine.
const EngineName = "nbio"

// ErrUnsupported is wrapped (together with server.ErrInvalidConfig) by New
// when Config or an option asks for something nbio cannot do (h2c, TLS,
// which in hotpath means HTTP/2 with ALPN, a listener handed over); the
// message names the option and the engine.
var ErrUnsupported = server.ErrUnsupported

// New validates cfg and builds a server on nbio's transport: the net/http
// engine's handler (probes, routes mounted with Handle, default chain) and
// lifecycle (server.Runtime), served by nbio's pollers. opts are package
// server's; an option nbio cannot honour is an error wrapping
// ErrUnsupported, as is h2c or TLS in cfg. Errors caused by cfg wrap
// server.ErrInvalidConfig. Nothing listens until Listen or Run.
func New(cfg server.Config, opts ...server.Option) (*server.Server, error) {
	// nbio's accept loop needs the *net.TCPConn, so the engine caps
	// connections itself (listener.go).
	caps := server.Capabilities{Engine: EngineName, OwnConnCap: true}
	return server.NewWithTransport(cfg, caps, func(st *server.Setup, h http.Handler) (server.Transport, error) {
		return newTransport(st.Config, h), nil
	}, opts...)
}

// transport serves a server.Runtime's listener on nbio's engine, which
// it creates and starts in Serve.
type transport struct {
	cfg     server.Config
	handler http.Handler // the chain around the routes, wrapped (conns.go)
	engine  *nbhttp.Engine
	ln      *listener
	conns   *connTable
	states  states   // per-connection framer and read deadlines (connstate.go)
	exec    *workers // runs nbio's request tasks

	stopWatch   chan struct{} // ends the close watcher and the deadline sweeper
	watcherDone chan struct{}
	sweeperDone chan struct{}

	mu       sync.Mutex
	shutdown bool          // Shutdown or Close ran: Serve must not start
	stopOnce sync.Once     // stop
	stopped  chan struct{} // closed by stop: Serve returns
}

func newTransport(cfg server.Config, h http.Handler) *transport {
	t := &transport{cfg: cfg, conns: newConnTable(), stopped: make(chan struct{})}
	t.handler = t.wrap(h)
	t.states.maxHead = cfg.MaxHeaderBytes + 4096 // net/http's slack, for the same threshold
	t.states.maxBody = cfg.MaxBodyBytes
	t.states.readHeaderTimeout, t.states.readTimeout = cfg.ReadHeaderTimeout, cfg.ReadTimeout
	t.states.idleTimeout = cfg.IdleTimeout
	return t
}

// Serve starts nbio's pollers on ln, capped at Config.MaxConnections, and
// waits until Shutdown or Close stopped them.
func (t *transport) Serve(ln net.Listener) error {
	if err := t.start(ln); err != nil {
		return err
	}
	<-t.stopped
	return nil
}

func (t *transport) start(ln net.Listener) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shutdown {
		close(t.stopped)
		return nil
	}
	t.ln = newListener(ln, t.cfg.MaxConnections)
	t.exec = newWorkers()
	t.engine = nbhttp.NewEngine(t.engineConfig())
	t.engine.OnOpen(func(c net.Conn) {
		var st *connState
		if nc, ok := c.(*nbio.Conn); ok {
			st = t.states.open(nc)
		}
		t.conns.open(c, st)
	})
	t.engine.OnClose(func(c net.Conn, _ error) {
		if nc, ok := c.(*nbio.Conn); ok {
			t.states.close(nc)
		}
		t.conns.close(c)
		t.ln.release()
	})
	// Every byte a client sends goes through the framer before nbio's
	// parser (framer.go). This replaces the data handler nbhttp.NewEngine
	// installed, which only called each connection's parser.
	t.engine.Engine.OnData(t.onData)
	if err := t.engine.Start(); err != nil {
		t.exec.close(time.Second)
		t.ln.Close()
		t.engine = nil
		return fmt.Errorf("start nbio: %w", err)
	}
	t.stopWatch, t.watcherDone, t.sweeperDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(t.watcherDone)
		t.conns.watch(closeCheckInterval, t.stopWatch)
	}()
	go func() {
		defer close(t.sweeperDone)
		t.states.sweepLoop(sweepInterval(t.cfg.ReadHeaderTimeout, t.cfg.ReadTimeout, t.cfg.IdleTimeout), t.stopWatch)
	}()
	return nil
}

// closeCheckInterval is how often requests in flight are checked for a
// closed connection: the longest a handler runs on after its client left.
const closeCheckInterval = 20 * time.Millisecond

// engineConfig maps server.Config onto nbhttp's.
func (t *transport) engineConfig() nbhttp.Config {
	// nbio logs through a package-level logger; library code must not
	// print, so it is silenced. Errors that matter surface as responses,
	// metrics or returned errors.
	logging.SetLevel(logging.LevelNone)
	maxBody := int(min(2*t.cfg.MaxBodyBytes, int64(maxInt/4))) + 64<<10
	maxHeader := t.cfg.MaxHeaderBytes + 4096
	return nbhttp.Config{
		Name:    "hotpath",
		Network: "tcp",
		Addrs:   []string{t.ln.Addr().String()},
		Listen:  func(string, string) (net.Listener, error) { return t.ln, nil },
		Handler: t.handler,
		// Long-lived workers instead of a goroutine per request (see workers).
		ServerExecutor: t.exec.Go,
		// The listener queues connections over MaxConnections; nbio must
		// never refuse one itself.
		MaxLoad: t.cfg.MaxConnections + 1,
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
		WriteTimeout:  t.cfg.WriteTimeout,
		// nbio's writes never block a handler: what the socket does not
		// take is buffered, without a bound by default. A client that
		// pipelines requests and never reads the answers (a slow-read
		// attack) then grew the process by every echo it asked for (4
		// connections × 64 × 512 KiB: +230 MB, 2026-12-07). With a
		// budget, nbio closes a connection whose unsent bytes would pass it.
		MaxWriteBufferSize: writeBudget(t.cfg.MaxBodyBytes),
	}
}

// writeBudget is how far (bytes buffered beyond the socket's own send
// buffer) a connection's responses may get ahead of its client before nbio
// closes it: 4 MiB, or two of the largest echo (a body of maxBody) and its
// head when that is more. A handler that writes a response larger than the
// budget faster than its client reads it is cut off the same way: on this
// engine, stream large responses to fast clients only (docs/engines.md).
func writeBudget(maxBody int64) int {
	return int(max(4<<20, min(2*maxBody, int64(maxInt/4))+64<<10))
}

const maxInt = int(^uint(0) >> 1)

// nbioReadDeadline keeps nbio's own read deadline out of the way.
const nbioReadDeadline = 24 * time.Hour

// Shutdown stops accepting, marks responses Connection: close, closes idle
// connections and waits for the requests in flight until ctx ends (nbio's
// own Shutdown closes busy connections at once).
func (t *transport) Shutdown(ctx context.Context) error {
	if !t.markShutdown() {
		return nil
	}
	t.conns.setDraining()
	t.ln.stopAccepting()
	if err := t.conns.drain(ctx); err != nil {
		return err
	}
	t.stop()
	return nil
}

// Close cuts every connection, which cancels its requests' contexts.
func (t *transport) Close() error {
	if t.markShutdown() {
		t.conns.cutAll()
		t.stop()
	}
	return nil
}

// markShutdown keeps Serve from starting and reports whether it had.
func (t *transport) markShutdown() (started bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.shutdown = true
	return t.engine != nil
}

// stop stops nbio's engine (which closes the listener) and the engine's own
// goroutines, and lets Serve return.
func (t *transport) stop() {
	t.stopOnce.Do(func() {
		t.engine.Stop()
		close(t.stopWatch)
		<-t.watcherDone
		<-t.sweeperDone
		// Every connection is closed and every request was waited for or
		// cancelled; a handler that ignores its context can still hold a
		// worker, which is not waited for beyond this.
		t.exec.close(time.Second)
		close(t.stopped)
	})
}
