package portmux

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultPeekTimeout = 10 * time.Second
	DefaultMaxPeek     = 64 << 10
)

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
	// start with a TLS handshake record; plaintext connections are still
	// split. NextProtos defaults to h2 and http/1.1. Connections that
	// negotiate anything but h2 go to HTTP unread (as *tls.Conn, so net/http
	// sees TLS as usual); h2 ones are sniffed and handed out as *Conn. The
	// config must not be modified after Split.
	TLSConfig *tls.Config
	// HTTP1Only is for an HTTP server that speaks HTTP/1.x only (the
	// fasthttp engine): an HTTP/2 connection that is not gRPC (h2c with
	// prior knowledge, or h2 negotiated over TLS) is answered with a GOAWAY
	// frame with error code HTTP_1_1_REQUIRED (RFC 9113 §7: retry over
	// HTTP/1.1) and closed, instead of reaching a server that would answer
	// its preface with an HTTP/1.1 error the client cannot read.
	HTTP1Only bool
	// OnError, when set, is called with every connection that is closed
	// without a decision (peek timeout, TLS handshake failure, read error).
	// It must be safe for concurrent use. Nil ignores them.
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
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() { // transient: back off like net/http
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

// route classifies c and delivers it, or closes it.
func (m *mux) route(c net.Conn) {
	dl := time.Now().Add(m.opts.PeekTimeout)
	if err := c.SetDeadline(dl); err != nil {
		m.fail(c, err)
		return
	}
	target, conn, err := m.classify(c)
	if err != nil {
		m.fail(c, err)
		return
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		m.fail(c, err)
		return
	}
	s := m.http
	if target == routeGRPC {
		s = m.grpc
	} else if pc, ok := conn.(*Conn); ok && pc.isH2() && m.opts.HTTP1Only {
		_, _ = conn.Write(goawayHTTP11Required) // best effort: it closes either way
		_ = conn.Close()
		return
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

// classify reads the start of c and returns the route and the connection
// to hand out.
func (m *mux) classify(c net.Conn) (verdict, net.Conn, error) {
	var raw net.Conn = c
	var tc *tls.Conn
	var first []byte
	if m.opts.TLSConfig != nil {
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			return 0, nil, fmt.Errorf("portmux: reading first byte: %w", err)
		}
		first = b[:]
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
	for {
		v, prefaceSeen := sniff(buf)
		if prefaceSeen && !sentSettings {
			// grpc-go clients send no request before the server's SETTINGS
			// frame: send an empty one (the real server's follows later).
			if _, err := raw.Write(emptySettings); err != nil {
				return 0, nil, fmt.Errorf("portmux: writing SETTINGS: %w", err)
			}
			sentSettings = true
		}
		if v == needMore && len(buf) >= m.opts.MaxPeek {
			v = routeHTTP
		}
		if v != needMore {
			out := &Conn{Conn: raw, replay: buf, tls: tc}
			if sentSettings && v == routeHTTP {
				out.dropAck = &ackFilter{c: out, pre: len(preface)}
			}
			return v, out, nil
		}
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), m.opts.MaxPeek-len(buf)))...)[:len(buf)]
		}
		n, err := raw.Read(buf[len(buf):min(cap(buf), m.opts.MaxPeek)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return 0, nil, fmt.Errorf("portmux: peeking %d bytes: %w", len(buf), err)
		}
	}
}

// goawayHTTP11Required is a GOAWAY frame (last stream 0) with error code
// HTTP_1_1_REQUIRED (0xd) and the reason as debug data.
var goawayHTTP11Required = func() []byte {
	const reason = "this port serves gRPC and HTTP/1.1; plain HTTP/2 is not served here"
	n := 8 + len(reason)
	f := []byte{byte(n >> 16), byte(n >> 8), byte(n), frameGoAway, 0, 0, 0, 0, 0}
	f = append(f, 0, 0, 0, 0, 0, 0, 0, errHTTP11Required)
	return append(f, reason...)
}()

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
