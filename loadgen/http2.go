package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// h2Transport opens HTTP/2 connections (TLS with ALPN "h2", or h2c) through
// net/http's ClientConn, one per Open, shared by Streams clients. HTTP/2
// framing, HPACK and flow control are not worth re-implementing: the
// standard library's client is used as is.
type h2Transport struct {
	tr      *http.Transport
	scheme  string // "https" or "http" (h2c)
	addr    string
	url     string
	method  string
	headers []Header
	body    []byte
	streams int
	h2c     bool
	timeout time.Duration
}

func newH2Transport(c Config, t target) *h2Transport {
	p := new(http.Protocols)
	if c.H2C {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP2(true)
	}
	tr := &http.Transport{
		Protocols: p,
		TLSClientConfig: &tls.Config{ //nolint:gosec // InsecureSkipVerify only when the user asked with --insecure
			ServerName:         t.hostname,
			RootCAs:            c.RootCAs,
			InsecureSkipVerify: c.Insecure,
			NextProtos:         []string{"h2"},
		},
		DisableCompression: true,
		DialContext:        dialWatchingPreface((&net.Dialer{Timeout: c.Timeout}).DialContext),
		// Connecting includes the handshake: without this a server that
		// accepts and never answers the ClientHello hangs Open forever.
		TLSHandshakeTimeout: c.Timeout,
		ForceAttemptHTTP2:   true,
	}
	return &h2Transport{tr: tr, scheme: t.scheme, addr: t.addr, url: c.URL, method: c.Method,
		headers: c.Headers, body: c.Body, streams: c.Streams, h2c: c.H2C, timeout: c.Timeout}
}

func (t *h2Transport) Name() string {
	if t.h2c {
		return "h2c"
	}
	return "h2"
}

// prefaceKey carries, in the context given to NewClientConn, the channel
// that receives the first bytes the server sends on that connection (nil if
// it sent none).
type prefaceKey struct{}

// dialWatchingPreface wraps dial: when the context carries a prefaceKey
// channel, the connection reports its first read there.
func dialWatchingPreface(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		first, ok := ctx.Value(prefaceKey{}).(chan []byte)
		if err != nil || !ok {
			return c, err
		}
		return &prefaceConn{Conn: c, first: first}, nil
	}
}

// prefaceConn reports the first bytes read from Conn (up to 64) once.
type prefaceConn struct {
	net.Conn
	once  sync.Once
	first chan<- []byte // buffered: never blocks
}

func (c *prefaceConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.once.Do(func() { c.first <- bytes.Clone(p[:min(n, 64)]) })
	return n, err
}

// h2Conn is one HTTP/2 connection shared by several clients; it redials
// when the connection fails or the server sends GOAWAY.
type h2Conn struct {
	t  *h2Transport
	mu sync.Mutex
	cc *http.ClientConn
}

func (c *h2Conn) get(ctx context.Context) (*http.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != nil && c.cc.Err() == nil {
		return c.cc, nil
	}
	if c.cc != nil {
		c.cc.Close()
		c.cc = nil
	}
	cc, err := c.t.tr.NewClientConn(ctx, c.t.scheme, c.t.addr)
	if err != nil {
		return nil, &connectError{err}
	}
	c.cc = cc
	return cc, nil
}

func (t *h2Transport) Open(ctx context.Context) ([]Client, error) {
	conn := &h2Conn{t: t}
	// Only h2c needs to see the server's first bytes (see below); TLS
	// connections are not wrapped.
	first := make(chan []byte, 1)
	getCtx := ctx
	if t.h2c {
		getCtx = context.WithValue(ctx, prefaceKey{}, first)
	}
	if _, err := conn.get(getCtx); err != nil {
		return nil, err
	}
	if t.h2c {
		// TLS has ALPN to refuse a server without HTTP/2; h2c has no
		// negotiation, so check the server's first bytes: an HTTP/2 server
		// opens with a SETTINGS frame, an HTTP/1.x one answers the client
		// preface with a status line (or closes).
		wait, cancel := context.WithTimeout(ctx, t.timeout)
		defer cancel()
		var b []byte
		select {
		case b = <-first:
		case <-wait.Done():
			conn.cc.Close()
			return nil, &connectError{fmt.Errorf("h2c: no HTTP/2 server preface within %v", t.timeout)}
		}
		switch line, _, _ := bytes.Cut(b, []byte("\r\n")); {
		case len(b) == 0:
			conn.cc.Close()
			return nil, &connectError{errors.New("h2c: the server closed the connection: it does not speak HTTP/2 over cleartext")}
		case bytes.HasPrefix(b, []byte("HTTP/")):
			conn.cc.Close()
			return nil, &connectError{fmt.Errorf("h2c: the server answered %q: it speaks HTTP/1.x only", line)}
		}
	}
	clients := make([]Client, t.streams)
	for i := range clients {
		req, err := http.NewRequest(t.method, t.url, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		for _, h := range t.headers {
			if http.CanonicalHeaderKey(h.Name) == "Host" {
				req.Host = h.Value
				continue
			}
			req.Header.Add(h.Name, h.Value)
		}
		if req.Header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", "hotpath-bench")
		}
		req.ContentLength = int64(len(t.body))
		clients[i] = &h2Client{conn: conn, req: req, body: t.body, last: i == len(clients)-1}
	}
	return clients, nil
}

// h2Client is one stream slot on a shared h2Conn.
type h2Client struct {
	conn *h2Conn
	req  *http.Request
	body []byte
	rd   bytes.Reader
	cnt  countWriter
	last bool // closes the shared connection
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func (c *h2Client) Do(ctx context.Context, out *Outcome) {
	*out = Outcome{}
	cc, err := c.conn.get(ctx)
	if err != nil {
		out.Err = err
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.conn.t.timeout)
	defer cancel()
	req := c.req.WithContext(ctx)
	if len(c.body) > 0 {
		c.rd.Reset(c.body)
		req.Body = io.NopCloser(&c.rd)
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		out.Err = err
		return
	}
	c.cnt.n = 0
	_, err = io.Copy(&c.cnt, resp.Body)
	resp.Body.Close()
	out.BytesIn = c.cnt.n
	out.BytesOut = int64(len(c.body))
	if err != nil {
		out.Err = err
		return
	}
	out.Status = resp.StatusCode
}

func (c *h2Client) Close() error {
	if !c.last {
		return nil
	}
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	if c.conn.cc != nil {
		err := c.conn.cc.Close()
		c.conn.cc = nil
		return err
	}
	return nil
}
