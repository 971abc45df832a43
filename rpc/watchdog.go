package rpc

import (
	"encoding/binary"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// The write watchdog (Config.WriteTimeout) closes a connection on which a
// call has not ended on the wire (the server has written neither its
// trailers nor a RST_STREAM) within WriteTimeout of its headers arriving.
//
// Why a connection-level watchdog: once a handler has returned, grpc-go
// queues the answer and the trailers in its writer and keeps them, and the
// stream's slot, until the client's flow-control window lets them out.
// Nothing in grpc-go v1.85.0 drops a finished stream's queued data except
// a RST_STREAM from the client, grpc-go's own grpc-timeout timer (only when
// the client sent grpc-timeout) or the connection closing
// (internal/transport: finishStream queues the trailers behind the data;
// only closeStream's cleanupStream frees it; no API reaches either for a
// stream). So a client that never opens its window (or never reads the
// socket) holds every answer until it leaves. Closing the connection is
// the one lever left; it is what net/http's WriteTimeout does to an
// HTTP/1 connection too.
//
// How it sees the wire: the connection grpc-go gets from the handshake is
// wrapped. Its reads note each stream the client opens (a HEADERS frame on
// a new stream ID) and each it resets; its writes note each stream the
// server ends (HEADERS or DATA with END_STREAM, RST_STREAM). Only frame
// headers are parsed, 9 bytes per frame; stream IDs are tracked in order of
// arrival, so the oldest open stream is found without a scan.

// watchCreds wraps the server's transport credentials so that every
// connection is watched after its handshake.
type watchCreds struct {
	credentials.TransportCredentials
	w *watchdog
}

func (c watchCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return conn, info, err
	}
	wc := &watchedConn{Conn: conn, w: c.w, open: map[uint32]struct{}{}}
	wc.rd.skip = clientPrefaceLen // grpc-go reads the preface through the connection first
	return wc, info, nil
}

func (c watchCreds) Clone() credentials.TransportCredentials {
	return watchCreds{TransportCredentials: c.TransportCredentials.Clone(), w: c.w}
}

// watchdog holds the watched connections that have had a stream, and runs
// one goroutine, only while there are some, that closes those whose oldest
// open stream is older than limit. It checks every limit/8 (10 ms to 1 s),
// so a connection is closed between limit and limit×9/8 (+1 s at most).
type watchdog struct {
	limit time.Duration
	tick  time.Duration
	now   func() time.Time

	mu      sync.Mutex
	conns   map[*watchedConn]struct{}
	running bool
	wake    chan struct{} // closed to stop the goroutine (no connections left)
	closed  int           // connections closed by the watchdog
}

func newWatchdog(limit time.Duration) *watchdog {
	return &watchdog{limit: limit, tick: min(max(limit/8, 10*time.Millisecond), time.Second), now: time.Now, conns: map[*watchedConn]struct{}{}}
}

// add registers c (it has an open stream); the goroutine starts if needed.
func (w *watchdog) add(c *watchedConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns[c] = struct{}{}
	if !w.running {
		w.running = true
		w.wake = make(chan struct{})
		go w.run(w.wake)
	}
}

// remove forgets c (closed); the goroutine ends with the last connection.
func (w *watchdog) remove(c *watchedConn) {
	w.mu.Lock()
	delete(w.conns, c)
	if len(w.conns) == 0 && w.running {
		w.running = false
		close(w.wake)
	}
	w.mu.Unlock()
}

// run checks the connections every tick until remove stops it.
func (w *watchdog) run(wake chan struct{}) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var late []*watchedConn
	for {
		select {
		case <-wake:
			return
		case <-t.C:
		}
		cutoff := w.now().Add(-w.limit)
		late = late[:0]
		w.mu.Lock()
		for c := range w.conns {
			if c.oldest().Before(cutoff) {
				late = append(late, c)
			}
		}
		w.closed += len(late)
		w.mu.Unlock()
		for _, c := range late {
			c.Close() // grpc-go's reader fails and frees the transport
		}
	}
}

// closedCount is how many connections the watchdog has closed.
func (w *watchdog) closedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// watchedConn is a connection whose HTTP/2 frames are followed (see the
// comment at the top of this file). Read is called by grpc-go's reader
// goroutine only and Write by its writer only; the open streams are shared
// under mu.
type watchedConn struct {
	net.Conn
	w *watchdog

	rd, wr frameScan // the two directions' frame boundaries

	mu         sync.Mutex
	open       map[uint32]struct{} // streams opened by the client, not ended on the wire
	order      []openStream        // order[head:]: the same, oldest first, with ended ones not yet dropped
	head       int
	lastID     uint32 // highest stream ID the client opened
	registered bool   // in w.conns
	closed     bool
}

type openStream struct {
	id uint32
	at time.Time
}

// frameScan finds frame headers in a byte stream delivered in pieces.
type frameScan struct {
	hdr  [9]byte
	n    int // bytes of hdr filled
	skip int // bytes of the current payload (or of the preface) left
}

// HTTP/2 frame types and flags the watchdog reads (RFC 9113 §6).
const (
	frameData      = 0x0
	frameHeaders   = 0x1
	frameRSTStream = 0x3
	flagEndStream  = 0x1
)

// clientPrefaceLen is the length of "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", which
// grpc-go reads through the connection before the first frame.
const clientPrefaceLen = 24

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.scan(&c.rd, p[:n], true)
	}
	return n, err
}

func (c *watchedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.scan(&c.wr, p[:n], false)
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	reg := c.registered
	c.registered = false
	c.mu.Unlock()
	if reg {
		c.w.remove(c)
	}
	return c.Conn.Close()
}

// scan walks the frame headers in p, the next bytes of one direction.
func (c *watchedConn) scan(s *frameScan, p []byte, fromClient bool) {
	for len(p) > 0 {
		if s.skip > 0 {
			k := min(s.skip, len(p))
			s.skip -= k
			p = p[k:]
			continue
		}
		k := copy(s.hdr[s.n:], p)
		s.n += k
		p = p[k:]
		if s.n < len(s.hdr) {
			return
		}
		s.n = 0
		s.skip = int(s.hdr[0])<<16 | int(s.hdr[1])<<8 | int(s.hdr[2])
		typ, flags := s.hdr[3], s.hdr[4]
		id := binary.BigEndian.Uint32(s.hdr[5:]) & (1<<31 - 1)
		switch {
		case id == 0:
		case fromClient && typ == frameHeaders:
			c.opened(id)
		case fromClient && typ == frameRSTStream,
			!fromClient && typ == frameRSTStream,
			!fromClient && (typ == frameHeaders || typ == frameData) && flags&flagEndStream != 0:
			c.ended(id)
		}
	}
}

// opened notes a HEADERS frame from the client: a new stream if its ID is
// higher than any before (otherwise trailers, or an error grpc-go handles).
func (c *watchedConn) opened(id uint32) {
	c.mu.Lock()
	if id <= c.lastID || c.closed {
		c.mu.Unlock()
		return
	}
	c.lastID = id
	c.open[id] = struct{}{}
	c.order = append(c.order, openStream{id: id, at: c.w.now()})
	reg := !c.registered
	c.registered = true
	c.mu.Unlock()
	if reg {
		c.w.add(c)
		// A Close between the unlock and add removed c before it was
		// added: remove it again, or the watchdog would keep it.
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			c.w.remove(c)
		}
	}
}

// ended notes that stream id ended on the wire.
func (c *watchedConn) ended(id uint32) {
	c.mu.Lock()
	delete(c.open, id)
	// Drop ended streams from the front, so order stays as short as the
	// span of open ones; its array is reused (no allocation per call).
	for c.head < len(c.order) {
		if _, ok := c.open[c.order[c.head].id]; ok {
			break
		}
		c.head++
	}
	switch {
	case c.head == len(c.order) && cap(c.order) > 1024:
		c.order, c.head = nil, 0 // after a burst: let the large array go
	case c.head == len(c.order):
		c.order, c.head = c.order[:0], 0
	case c.head > 256 && c.head > len(c.order)/2:
		n := copy(c.order, c.order[c.head:])
		c.order, c.head = c.order[:n], 0
	}
	c.mu.Unlock()
}

// oldest returns when the oldest open stream opened; far in the future
// when none is open.
func (c *watchedConn) oldest() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.head == len(c.order) {
		return farFuture
	}
	return c.order[c.head].at
}

var farFuture = time.Unix(1<<62, 0)
