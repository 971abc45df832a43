package portmux

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
)

// Conn is a connection handed out by the split listeners: the original
// connection (or its TLS-terminated form) with the peeked bytes replayed
// first. It deliberately has no ConnectionState method: net/http serves
// HTTP/2 on a non-*tls.Conn only when it does not look like TLS. Use
// TLSState (or ConnContext and TLSStateFromContext in handlers) instead.
type Conn struct {
	net.Conn
	replay []byte // bytes read while sniffing, returned first
	tls    *tls.Conn
	h2     bool // the client sent the HTTP/2 preface
	// dropAck: the mux sent its own SETTINGS to the client while sniffing,
	// so the client's SETTINGS ACK must not reach an HTTP/2 server that
	// would count it as an ACK of its own SETTINGS (net/http does).
	dropAck *ackFilter
	// guard enforces the flood limits on HTTP/2 connections (nil on
	// HTTP/1.x ones); onFlood reports a connection it cut off.
	guard   *guard
	onFlood func(remote net.Addr, err error)
}

// Read returns the replayed bytes, then reads the connection.
func (c *Conn) Read(p []byte) (int, error) {
	var n int
	var err error
	if c.dropAck != nil {
		n, err = c.dropAck.read(p)
	} else {
		n, err = c.rawRead(p)
	}
	if c.guard != nil && n > 0 {
		if gerr := c.guard.observe(p[:n]); gerr != nil {
			return 0, gerr
		}
	}
	return n, err
}

// Write writes to the connection (through the flood guard on HTTP/2).
func (c *Conn) Write(p []byte) (int, error) {
	if c.guard != nil {
		return c.guard.write(p)
	}
	return c.Conn.Write(p)
}

func (c *Conn) writeRaw(p []byte) (int, error) { return c.Conn.Write(p) }

// Close closes the connection; one the flood guard cut off closes when its
// linger ends.
func (c *Conn) Close() error {
	if c.guard != nil && c.guard.closed.Load() {
		return nil
	}
	return c.Conn.Close()
}

func (c *Conn) rawRead(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		if len(c.replay) == 0 {
			c.replay = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// isH2 reports whether the connection started with the HTTP/2 preface.
func (c *Conn) isH2() bool { return c.h2 }

// errNoSyscallConn is SyscallConn's error when the socket cannot be handed
// out as is.
var errNoSyscallConn = errors.New("portmux: the socket is not the connection's byte stream (TLS, pending replayed bytes, or no file descriptor)")

// SyscallConn exposes the socket of a plaintext connection whose replayed
// bytes have all been read, for readers that only peek at it (a
// disconnect watcher: a peer that closed reads as EOF). While replayed
// bytes are pending, or on a TLS connection, the socket's bytes are not the
// connection's next bytes, and it returns an error.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if c.tls != nil || len(c.replay) > 0 || (c.dropAck != nil && (!c.dropAck.done || len(c.dropAck.pending) > 0)) {
		return nil, errNoSyscallConn
	}
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}

// CloseWrite shuts down the writing side when the underlying connection
// can (TCP and TLS can), so net/http's graceful close works as without the
// mux; otherwise it returns an error.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("portmux: connection cannot close its write side")
}

// ReadFrom lets io.Copy to the connection use the underlying connection's
// ReadFrom (sendfile/splice for TCP), as net/http does for file bodies.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if c.guard != nil { // the guard must see every byte written
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// TLSState returns the state of the TLS connection portmux terminated, or
// nil for a plaintext connection.
func (c *Conn) TLSState() *tls.ConnectionState {
	if c.tls == nil {
		return nil
	}
	st := c.tls.ConnectionState()
	return &st
}

// ackFilter passes an HTTP/2 byte stream through, frame by frame, removing
// the first empty SETTINGS ACK after the preface; then it gets out of the way.
// Hand-written because the frames must pass unchanged: x/net's Framer would
// re-encode them.
type ackFilter struct {
	c       *Conn
	pre     int    // preface bytes still to pass
	head    []byte // partial frame header being gathered
	skip    int    // payload bytes of the current frame still to pass
	frames  int    // frames passed so far
	done    bool   // ACK dropped, or gave up looking
	pending []byte // bytes decided on but not yet returned
}

// maxFramesBeforeAck bounds the search: a client acknowledges SETTINGS at
// once, so if no ACK shows up in this many frames, stop parsing.
const maxFramesBeforeAck = 64

func (f *ackFilter) read(p []byte) (int, error) {
	for {
		if len(f.pending) > 0 {
			n := copy(p, f.pending)
			f.pending = f.pending[n:]
			return n, nil
		}
		if f.done {
			return f.c.rawRead(p)
		}
		buf := make([]byte, max(len(p), 512))
		n, err := f.c.rawRead(buf)
		f.feed(buf[:n])
		if err != nil {
			if len(f.pending) > 0 {
				n := copy(p, f.pending)
				f.pending = f.pending[n:]
				return n, nil // the error comes back on the next read
			}
			return 0, err
		}
	}
}

// feed runs the filter over b, appending what passes to f.pending.
func (f *ackFilter) feed(b []byte) {
	for len(b) > 0 {
		switch {
		case f.done:
			f.pending = append(f.pending, b...)
			return
		case f.pre > 0:
			n := min(f.pre, len(b))
			f.pending = append(f.pending, b[:n]...)
			f.pre -= n
			b = b[n:]
		case f.skip > 0:
			n := min(f.skip, len(b))
			f.pending = append(f.pending, b[:n]...)
			f.skip -= n
			b = b[n:]
		default:
			n := min(frameHeaderLen-len(f.head), len(b))
			f.head = append(f.head, b[:n]...)
			b = b[n:]
			if len(f.head) < frameHeaderLen {
				return
			}
			h := f.head
			f.head = nil
			length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
			if h[3] == frameSettings && h[4]&flagAck != 0 && length == 0 {
				f.done = true // dropped
				continue
			}
			f.pending = append(f.pending, h...)
			f.skip = length
			f.frames++
			if f.frames >= maxFramesBeforeAck {
				f.done = true
			}
		}
	}
}
