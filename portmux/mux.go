package portmux

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultPeekTimeout = 10 * time.Second
	DefaultMaxPeek     = 64 << 10
	DefaultRequestWait = 20 * time.Millisecond
)

// ackWait bounds the wait for an HTTP/2 client to acknowledge portmux's
// SETTINGS (RFC 9113 §6.5.3: at once); a client that has not by then is
// handed to the fallback server, which applies its own timeouts and sends
// GOAWAY when it closes the connection.
const ackWait = time.Second

// Options tunes Split. The zero value splits plaintext connections with the
// defaults below.
type Options struct {
	// PeekTimeout bounds the time from accept to a routing decision,
	// including the TLS handshake. A connection undecided by then is closed.
	// Zero means DefaultPeekTimeout.
	PeekTimeout time.Duration
	// MaxPeek bounds the bytes read before a decision. A connection whose
	// first request headers do not fit goes to HTTP. Zero means DefaultMaxPeek.
	MaxPeek int
	// TLSConfig, when set, makes portmux terminate TLS on connections that
	// start with a TLS handshake record, and refuse the others (see
	// AllowPlaintext). NextProtos defaults to h2 and http/1.1. Connections
	// that negotiate anything but h2 go to HTTP unread (as *tls.Conn, so
	// net/http sees TLS as usual); h2 ones are sniffed and handed out as
	// *Conn. The config must not be modified after Split.
	TLSConfig *tls.Config
	// AllowPlaintext, with TLSConfig, splits connections that do not start
	// with a TLS handshake in plaintext too (one port for both). Without
	// it a TLS port closes them, as net/http's TLS listener does: a request
	// line gets "400 Bad Request" ("Client sent an HTTP request to an HTTPS
	// server.") first, so a client configured with http:// for an https://
	// port fails loudly instead of sending its credentials in cleartext and
	// being served.
	AllowPlaintext bool
	// HTTP1Only is for an HTTP server that speaks HTTP/1.x only (the
	// fasthttp engine): an HTTP/2 connection that is not gRPC (h2c with
	// prior knowledge, or h2 negotiated over TLS) is answered with a GOAWAY
	// frame with error code HTTP_1_1_REQUIRED (RFC 9113 §7: retry over
	// HTTP/1.1) and closed, instead of reaching a server that would answer
	// its preface with an HTTP/1.1 error the client cannot read.
	HTTP1Only bool
	// HTTPOnly routes every connection to the HTTP listener, gRPC calls
	// included (the HTTP server answers them as it answers any request):
	// for an HTTP server without gRPC that wants portmux's TLS termination
	// and HTTP/2 flood guard (Floods) in front of net/http's HTTP/2. An
	// HTTP/2 connection is handed over as soon as its preface is in,
	// without portmux's own SETTINGS or the wait for a first request
	// (RequestWait does not apply). The gRPC listener then yields no
	// connection; close it at once. It overrides HTTP1Only.
	HTTPOnly bool
	// RequestWait bounds how long an HTTP/2 connection may go without a
	// request after it has acknowledged portmux's SETTINGS frame. HTTP/2
	// connections are routed by their first request's content-type, so
	// portmux answers the client's preface with an empty SETTINGS frame of
	// its own (grpc-go clients send nothing before the server's SETTINGS)
	// and waits for that request. A client that waits for the server before
	// its first request (a SETTINGS ACK, a PING answer: warm-up pools,
	// health checks, h2spec) would wait for nothing, so once RequestWait
	// has passed after its ACK, or at once if it sends a frame other than
	// SETTINGS or WINDOW_UPDATE first, the connection goes to the fallback
	// server, which answers everything from then on: the HTTP server, which
	// must then also serve gRPC requests (grpc.Server.ServeHTTP: slower than
	// grpc-go's transport, but the same service; see GRPCHandler), or, with
	// HTTP1Only, the gRPC server. Zero means DefaultRequestWait.
	RequestWait time.Duration
	// Floods is the per-connection budget of HTTP/2 frames that ask for no
	// work (SETTINGS, PING, RST_STREAM, empty frames, CONTINUATION chains),
	// enforced on every HTTP/2 connection on either side: over it, portmux
	// sends GOAWAY(ENHANCE_YOUR_CALM) and closes the connection. The zero
	// value takes the defaults.
	Floods FloodLimits
	// OnError, when set, is called with every connection that is closed
	// without a decision (peek timeout, TLS handshake failure, read error)
	// and every HTTP/2 connection cut off for a frame flood (an error
	// wrapping ErrFlood). It must be safe for concurrent use. Nil ignores
	// them.
	OnError func(remote net.Addr, err error)
}

// Split accepts connections from ln and routes each to one of the returned
// listeners: gRPC (HTTP/2 whose first request has content-type
// application/grpc) or HTTP (everything else: HTTP/1.x, h2c, HTTP/2 over
// TLS). Hand grpcL to grpc.Server.Serve and httpL to http.Server.Serve.
//
// The HTTP server must accept unencrypted HTTP/2 (http.Server.Protocols with
// SetUnencryptedHTTP2(true)) to serve h2c and TLS-terminated HTTP/2: those
// arrive as *Conn, so their requests have Request.TLS nil; set
// http.Server.ConnContext to ConnContext and call TLSStateFromContext in
// handlers that need the TLS state. A gRPC server behind a TLSConfig should
// use Credentials() instead of TLS credentials (peers still report TLS).
//
// Closing both returned listeners closes ln; closing one makes connections
// routed to it be closed at once. Accept on either returns ln's error once ln
// fails. Split starts one goroutine for ln and one per connection being
// classified; all end when ln is closed and classifications finish.
func Split(ln net.Listener, opts Options) (grpcL, httpL net.Listener) {
	if opts.PeekTimeout <= 0 {
		opts.PeekTimeout = DefaultPeekTimeout
	}
	if opts.MaxPeek <= 0 {
		opts.MaxPeek = DefaultMaxPeek
	}
	if opts.RequestWait <= 0 {
		opts.RequestWait = DefaultRequestWait
	}
	if opts.TLSConfig != nil && len(opts.TLSConfig.NextProtos) == 0 {
		opts.TLSConfig = opts.TLSConfig.Clone()
		opts.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
	}
	m := &mux{ln: ln, opts: opts, done: make(chan struct{})}
	m.grpc = newSub(m)
	m.http = newSub(m)
	go m.serve()
	return m.grpc, m.http
}

type mux struct {
	ln         net.Listener
	opts       Options
	grpc, http *sub
	done       chan struct{} // closed when accepting stops
	err        error         // why accepting stopped; read after done
	closeOnce  sync.Once
}

func (m *mux) serve() {
	var tempDelay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if temporary(err) { // back off like net/http, and keep serving
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			m.err = err
			close(m.done)
			return
		}
		tempDelay = 0
		go m.route(c)
	}
}

// temporary reports whether an Accept error passes: a timeout, or a
// shortage of descriptors, buffers or memory (EMFILE under a low
// RLIMIT_NOFILE must not stop the port for good), or a connection the
// client reset before it was accepted.
func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// route classifies c and delivers it, or closes it.
func (m *mux) route(c net.Conn) {
	dl := time.Now().Add(m.opts.PeekTimeout)
	if err := c.SetDeadline(dl); err != nil {
		m.fail(c, err)
		return
	}
	target, conn, err := m.classify(c, dl)
	if err != nil {
		m.fail(c, err)
		return
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		m.fail(c, err)
		return
	}
	s := m.http
	switch {
	case m.opts.HTTPOnly:
	case target == routeGRPC || (target == routeEither && m.opts.HTTP1Only):
		s = m.grpc
	case target == routeHTTP && m.opts.HTTP1Only:
		if pc, ok := conn.(*Conn); ok && pc.isH2() {
			_, _ = conn.Write(goawayHTTP11Required) // best effort: it closes either way
			_ = conn.Close()
			return
		}
	}
	select {
	case s.conns <- conn:
	case <-s.closed:
		_ = conn.Close()
	}
}

func (m *mux) fail(c net.Conn, err error) {
	_ = c.Close()
	if m.opts.OnError != nil {
		m.opts.OnError(c.RemoteAddr(), err)
	}
}

// classify reads the start of c (until dl at most) and returns the route and the connection
// to hand out.
func (m *mux) classify(c net.Conn, dl time.Time) (verdict, net.Conn, error) {
	var raw net.Conn = c
	var tc *tls.Conn
	var first []byte
	if m.opts.TLSConfig != nil {
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			return 0, nil, fmt.Errorf("portmux: reading first byte: %w", err)
		}
		first = b[:]
		if b[0] != 0x16 && !m.opts.AllowPlaintext {
			if b[0] >= 'A' && b[0] <= 'Z' { // a request line (or the h2c preface, "PRI …")
				_, _ = c.Write(plainToTLS) // best effort: it closes either way
			}
			return 0, nil, errPlaintext
		}
		if b[0] == 0x16 { // TLS handshake record
			tc = tls.Server(&Conn{Conn: c, replay: first}, m.opts.TLSConfig)
			if err := tc.Handshake(); err != nil {
				return 0, nil, fmt.Errorf("portmux: TLS handshake: %w", err)
			}
			if tc.ConnectionState().NegotiatedProtocol != "h2" {
				return routeHTTP, tc, nil
			}
			raw, first = tc, nil
		}
	}
	buf := append(make([]byte, 0, 512), first...)
	sentSettings := false
	var sentAt, ackedAt time.Time
	for {
		v, st := sniff(buf)
		if st.preface && m.opts.HTTPOnly {
			// Nothing to route by: hand the connection to the HTTP
			// server at once, guarded, and let it answer the preface
			// with its own SETTINGS (the only ones the client sees).
			return routeHTTP, m.handOut(raw, buf, tc, true, false), nil
		}
		if st.preface && !sentSettings {
			// grpc-go clients send no request before the server's SETTINGS
			// frame: send an empty one (the real server's follows later).
			if _, err := raw.Write(emptySettings); err != nil {
				return 0, nil, fmt.Errorf("portmux: writing SETTINGS: %w", err)
			}
			sentSettings, sentAt = true, time.Now()
		}
		if st.acked && ackedAt.IsZero() {
			ackedAt = time.Now()
		}
		if v == needMore && len(buf) >= m.opts.MaxPeek {
			v = routeHTTP
		}
		if v != needMore {
			if tc != nil && !st.preface {
				// h2 negotiated, then no preface: RFC 9113 §3.4 says close.
				return 0, nil, errors.New("portmux: TLS connection negotiated h2 but sent no HTTP/2 preface")
			}
			return v, m.handOut(raw, buf, tc, sentSettings, sentSettings), nil
		}
		if sentSettings { // wait for the first request, not for ever
			wait := sentAt.Add(ackWait)
			if !ackedAt.IsZero() {
				wait = ackedAt.Add(m.opts.RequestWait)
			}
			if dl.Before(wait) {
				wait = dl
			}
			if err := raw.SetReadDeadline(wait); err != nil {
				return 0, nil, fmt.Errorf("portmux: %w", err)
			}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), m.opts.MaxPeek-len(buf)))...)[:len(buf)]
		}
		n, err := raw.Read(buf[len(buf):min(cap(buf), m.opts.MaxPeek)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			var ne net.Error
			if sentSettings && errors.As(err, &ne) && ne.Timeout() && time.Now().Before(dl) {
				// An HTTP/2 client waiting for the server: the fallback answers.
				return routeEither, m.handOut(raw, buf, tc, true, true), nil
			}
			return 0, nil, fmt.Errorf("portmux: peeking %d bytes: %w", len(buf), err)
		}
	}
}

// handOut wraps a classified connection: the peeked bytes replayed and, on
// HTTP/2 (h2: it sent the preface), the flood guard and, when portmux
// answered the preface with SETTINGS of its own (sentSettings), the filter
// that keeps the client's ACK of them from the server.
func (m *mux) handOut(raw net.Conn, buf []byte, tc *tls.Conn, h2, sentSettings bool) *Conn {
	out := &Conn{Conn: raw, replay: buf, tls: tc, h2: h2}
	if sentSettings {
		out.dropAck = &ackFilter{c: out, pre: len(preface)}
	}
	if h2 {
		out.guard = newGuard(out, m.opts.Floods, len(preface))
		out.onFlood = m.opts.OnError
	}
	return out
}

// goawayHTTP11Required is a GOAWAY frame (last stream 0) with error code
// HTTP_1_1_REQUIRED (0xd) and the reason as debug data.
var goawayHTTP11Required = goaway(0, errHTTP11Required, "this port serves gRPC and HTTP/1.1; plain HTTP/2 is not served here")

// plainToTLS is what a TLS port answers a plaintext request line with, the
// words net/http's TLS server uses.
var plainToTLS = []byte("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")

// errPlaintext is the error OnError gets for a plaintext connection to a TLS
// port without AllowPlaintext.
var errPlaintext = errors.New("portmux: plaintext connection to a TLS port (Options.AllowPlaintext is off)")

// emptySettings is a SETTINGS frame with no parameters.
var emptySettings = []byte{0, 0, 0, frameSettings, 0, 0, 0, 0, 0}

// sub is one of the split listeners.
type sub struct {
	m         *mux
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newSub(m *mux) *sub {
	return &sub{m: m, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for the next connection routed to this listener.
func (s *sub) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	case <-s.m.done:
		select { // prefer a connection classified before ln failed
		case c := <-s.conns:
			return c, nil
		default:
		}
		return nil, s.m.err
	}
}

// Close stops this listener; when both are closed, the underlying one is too.
func (s *sub) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.m.grpc.isClosed() && s.m.http.isClosed() {
			s.m.closeOnce.Do(func() { err = s.m.ln.Close() })
		}
	})
	return err
}

func (s *sub) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Addr is the underlying listener's address.
func (s *sub) Addr() net.Addr { return s.m.ln.Addr() }
