package loadgen

// This file is a lean HTTP/1.1 client over raw TCP. net/http's client costs
// several allocations and a goroutine hand-off per request, which on one core
// caps it well below wrk's request rate; the load generator must not be the
// bottleneck when it measures a fast server. So the request is serialised
// once, written with one syscall per request, and the response is parsed
// only as far as load testing needs: status line, Content-Length, chunked
// bodies, and Connection: close. Bodies are discarded, never buffered.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// errProtocol marks a response that is not valid HTTP/1.x.
var errProtocol = errors.New("malformed HTTP/1.x response")

// maxHeaderLines bounds the header lines of one response.
const maxHeaderLines = 256

// respInfo is what readResponse learns about one response.
type respInfo struct {
	status    int
	bytes     int64 // bytes consumed from the reader, head and body
	keepAlive bool  // the connection may carry another request
}

// readResponse reads one whole HTTP/1.x response from br and discards its
// body. noBody is true for responses to HEAD. Interim 1xx responses are read
// and skipped. It never allocates for well-formed responses whose lines fit
// in br's buffer; a longer line is an error.
func readResponse(br *bufio.Reader, noBody bool) (respInfo, error) {
	var info respInfo
	for {
		line, err := br.ReadSlice('\n')
		info.bytes += int64(len(line))
		if err != nil {
			return info, lineErr(err, info.bytes == int64(len(line)) && len(line) == 0)
		}
		// "HTTP/1.1 200 OK\r\n"
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return info, fmt.Errorf("%w: bad status line", errProtocol)
		}
		minor := line[7]
		status := 0
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return info, fmt.Errorf("%w: bad status code", errProtocol)
			}
			status = status*10 + int(c-'0')
		}
		if status < 100 || (len(line) > 12 && line[12] != ' ' && line[12] != '\r' && line[12] != '\n') {
			return info, fmt.Errorf("%w: bad status code", errProtocol)
		}
		info.status = status
		info.keepAlive = minor == '1'
		contentLength := int64(-1)
		chunked := false
		for n := 0; ; n++ {
			if n == maxHeaderLines {
				return info, fmt.Errorf("%w: more than %d header lines", errProtocol, maxHeaderLines)
			}
			h, err := br.ReadSlice('\n')
			info.bytes += int64(len(h))
			if err != nil {
				return info, lineErr(err, false)
			}
			h = trimEOL(h)
			if len(h) == 0 {
				break
			}
			colon := bytes.IndexByte(h, ':')
			if colon <= 0 {
				return info, fmt.Errorf("%w: header line without name", errProtocol)
			}
			name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case equalFold(name, "content-length"):
				v, ok := parseUint(value)
				if !ok || (contentLength >= 0 && v != contentLength) {
					return info, fmt.Errorf("%w: bad Content-Length", errProtocol)
				}
				contentLength = v
			case equalFold(name, "transfer-encoding"):
				chunked = hasToken(value, "chunked")
			case equalFold(name, "connection"):
				if hasToken(value, "close") {
					info.keepAlive = false
				} else if hasToken(value, "keep-alive") {
					info.keepAlive = true
				}
			}
		}
		if status >= 100 && status < 200 && status != 101 {
			continue // interim response: the real one follows
		}
		switch {
		case noBody || status == 204 || status == 304 || status == 101:
		case chunked:
			n, err := discardChunked(br)
			info.bytes += n
			if err != nil {
				return info, err
			}
		case contentLength >= 0:
			n, err := br.Discard(int(min(contentLength, int64(^uint(0)>>1))))
			info.bytes += int64(n)
			if err != nil {
				return info, unexpectedEOF(err)
			}
		default: // body ends when the server closes the connection
			n, err := io.Copy(io.Discard, br)
			info.bytes += n
			info.keepAlive = false
			if err != nil {
				return info, err
			}
		}
		return info, nil
	}
}

// discardChunked reads a chunked body and its trailer.
func discardChunked(br *bufio.Reader) (int64, error) {
	var total int64
	for {
		line, err := br.ReadSlice('\n')
		total += int64(len(line))
		if err != nil {
			return total, lineErr(err, false)
		}
		line = trimEOL(line)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, ok := parseHex(bytes.TrimSpace(line))
		if !ok {
			return total, fmt.Errorf("%w: bad chunk size", errProtocol)
		}
		if size == 0 {
			for n := 0; ; n++ { // trailer
				if n == maxHeaderLines {
					return total, fmt.Errorf("%w: trailer too long", errProtocol)
				}
				t, err := br.ReadSlice('\n')
				total += int64(len(t))
				if err != nil {
					return total, lineErr(err, false)
				}
				if len(trimEOL(t)) == 0 {
					return total, nil
				}
			}
		}
		n, err := br.Discard(int(size))
		total += int64(n)
		if err != nil {
			return total, unexpectedEOF(err)
		}
		crlf, err := br.ReadSlice('\n')
		total += int64(len(crlf))
		if err != nil {
			return total, lineErr(err, false)
		}
		if len(trimEOL(crlf)) != 0 {
			return total, fmt.Errorf("%w: chunk not followed by CRLF", errProtocol)
		}
	}
}

func lineErr(err error, clean bool) error {
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return fmt.Errorf("%w: line longer than %d bytes", errProtocol, readBufSize)
	case err == io.EOF && clean:
		return io.EOF // closed before any byte: a stale keep-alive connection
	}
	return unexpectedEOF(err)
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func trimEOL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds tok (lower-case).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var part []byte
		if i < 0 {
			part, v = v, nil
		} else {
			part, v = v[:i], v[i+1:]
		}
		if equalFold(bytes.TrimSpace(part), tok) {
			return true
		}
	}
	return false
}

func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// readBufSize is the per-connection read buffer: the longest response line
// (status or header) the client accepts.
const readBufSize = 16 << 10

// h1Transport opens HTTP/1.1 connections over TCP or TLS.
type h1Transport struct {
	addr      string
	tlsConf   *tls.Config // nil for http://
	req       []byte      // the whole serialised request, sent as is
	noBody    bool        // HEAD: responses carry no body
	keepAlive bool
	timeout   time.Duration
	dialer    net.Dialer
}

func (t *h1Transport) Name() string {
	if t.tlsConf != nil {
		return "http/1.1+tls"
	}
	return "http/1.1"
}

// Open dials one connection and returns its single client.
func (t *h1Transport) Open(ctx context.Context) ([]Client, error) {
	c := &h1Client{t: t}
	if err := c.dial(ctx); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, c.abort)
	c.stopWatch = stop
	return []Client{c}, nil
}

// h1Client is one HTTP/1.1 connection, redialled after errors and after
// Connection: close. Do is called by one goroutine at a time; abort may be
// called concurrently by the run's cancellation.
type h1Client struct {
	t         *h1Transport
	conn      net.Conn
	br        *bufio.Reader
	mu        sync.Mutex // guards conn replacement against abort
	aborted   bool
	stopWatch func() bool
	// reused is set once conn has answered a request: only then can an
	// EOF before any byte be the keep-alive race that Do retries.
	reused bool
}

func (c *h1Client) dial(ctx context.Context) error {
	dctx := ctx
	if c.t.timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, c.t.timeout)
		defer cancel()
	}
	conn, err := c.t.dialer.DialContext(dctx, "tcp", c.t.addr)
	if err != nil {
		return &connectError{err}
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if c.t.tlsConf != nil {
		tconn := tls.Client(conn, c.t.tlsConf)
		if err := tconn.HandshakeContext(dctx); err != nil {
			conn.Close()
			return &connectError{fmt.Errorf("TLS handshake: %w", err)}
		}
		conn = tconn
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		conn.Close()
		return context.Canceled
	}
	c.conn = conn
	c.reused = false
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, readBufSize)
	} else {
		c.br.Reset(conn)
	}
	return nil
}

func (c *h1Client) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	if c.conn != nil {
		_ = c.conn.SetDeadline(time.Unix(1, 0))
	}
}

func (c *h1Client) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// Do sends the request and reads the response. A request on a reused
// connection that the server had already closed (EOF before any byte) is
// retried once on a new connection, as browsers and net/http do.
func (c *h1Client) Do(ctx context.Context, out *Outcome) {
	*out = Outcome{}
	for attempt := 0; ; attempt++ {
		if c.conn == nil {
			if err := c.dial(ctx); err != nil {
				out.Err = err
				return
			}
		}
		fresh := !c.reused
		if c.t.timeout > 0 {
			_ = c.conn.SetDeadline(time.Now().Add(c.t.timeout))
		}
		if ctx.Err() != nil {
			out.Err = ctx.Err()
			return
		}
		n, err := c.conn.Write(c.t.req)
		out.BytesOut += int64(n)
		if err != nil {
			c.drop()
			if !fresh && attempt == 0 {
				continue
			}
			out.Err = err
			return
		}
		// Let the other connections run before reading: by the time this
		// one reads, its response has usually arrived, which saves the read
		// that would fail with EAGAIN and a park/wake-up (about 0.7 fewer
		// syscalls per request at -c 64 on one core; measured with perf stat).
		runtime.Gosched()
		info, err := readResponse(c.br, c.t.noBody)
		out.BytesIn += info.bytes
		if err != nil {
			c.drop()
			if err == io.EOF && !fresh && attempt == 0 {
				continue
			}
			out.Err = err
			return
		}
		out.Status = info.status
		c.reused = true
		if !info.keepAlive || !c.t.keepAlive {
			c.drop()
		}
		return
	}
}

func (c *h1Client) Close() error {
	if c.stopWatch != nil {
		c.stopWatch()
	}
	c.drop()
	return nil
}

// connectError marks a failure to establish a connection.
type connectError struct{ err error }

func (e *connectError) Error() string { return "connect: " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// buildRequest serialises an HTTP/1.1 request once for the whole run.
func buildRequest(method, requestURI, host string, headers []Header, body []byte, keepAlive bool) []byte {
	var b bytes.Buffer
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(requestURI)
	b.WriteString(" HTTP/1.1\r\n")
	has := func(name string) bool {
		for _, h := range headers {
			if equalFold([]byte(h.Name), name) {
				return true
			}
		}
		return false
	}
	if !has("host") {
		b.WriteString("Host: " + host + "\r\n")
	}
	if !has("user-agent") {
		b.WriteString("User-Agent: hotpath-bench\r\n")
	}
	for _, h := range headers {
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	if (len(body) > 0 || method == "POST" || method == "PUT" || method == "PATCH") && !has("content-length") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	if !keepAlive && !has("connection") {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}
