// Package h2raw is a raw HTTP/2 client for tests: it writes whatever frames
// a test asks for (floods, zero windows, lying length prefixes, header
// bombs, a client that waits for the server) and reads the server's frames
// in the background, acknowledging SETTINGS, tracking the connection's
// flow-control window and recording how each stream ended.
//
// No client library sends protocol abuse on purpose, so this one is ours:
// golang.org/x/net/http2's Framer and hpack write and parse the frames, and
// this package adds only the bookkeeping. It is test plumbing: functions
// that take or keep a testing.TB fail the test on errors it cannot go on
// from, and must be called from the test's own goroutine.
package h2raw

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// DefaultFrames is how many received frames a Conn keeps for Next and
// Await when Options.Frames is 0.
const DefaultFrames = 1024

// Options configures Dial. The zero value is an h2c (prior knowledge)
// connection announcing an empty SETTINGS frame.
type Options struct {
	// TLS, when not nil, makes the connection TLS. A config without
	// NextProtos is cloned and offers ALPN "h2" only, and Dial then fails
	// the test unless the server chose h2. The caller keeps ownership.
	TLS *tls.Config
	// Settings is the client's first SETTINGS frame, after the preface.
	// Its SETTINGS_HEADER_TABLE_SIZE, if any, also sizes the decoder of
	// the server's header blocks (4,096 bytes otherwise). Dial does not
	// keep the slice.
	Settings []http2.Setting
	// Frames is how many received frames are kept for Next and Await
	// (see Conn); 0 or less means DefaultFrames.
	Frames int
}

// Conn is one raw HTTP/2 client connection. Its methods may be called from
// any goroutine, except those that fail the test (Dial's t), which belong
// to the test's goroutine.
//
// A background reader reads every frame the server sends until the
// connection ends. Before handing a frame on, it
//   - acknowledges a SETTINGS frame that is not an ACK (between Write calls,
//     never inside one; it answers nothing else: no PING ACK, no
//     WINDOW_UPDATE for what it receives, so the server may send only the
//     windows the client's SETTINGS allow);
//   - adds a connection-level WINDOW_UPDATE to the window SendGRPC spends;
//   - records a stream's end (see Ending): END_STREAM on HEADERS or DATA,
//     or RST_STREAM.
//
// Then it queues the frame for Next and Await, in arrival order, keeping
// at most Options.Frames of them: when the queue is full, the oldest
// queued frame is dropped and counted (Dropped). So memory stays bounded
// whatever a server sends to a test that reads few frames (a flood's
// thousands of ACKs): Frames × the largest frame the client allows (16 KiB
// unless its SETTINGS say otherwise; a header list decodes to at most
// x/net's 16 MiB default). The reader never waits for the test, and the
// latest frames (a GOAWAY before the close) are the ones kept. A test that
// wants every frame consumes them as they come, or sizes Frames for the
// burst. Each queued frame owns its memory: it stays valid after later
// reads (x/net's Framer reuses its buffer; the reader uses a Framer per
// frame). Of a HEADERS frame, a *http2.MetaHeadersFrame, use the decoded
// fields: its raw block fragment is not kept.
type Conn struct {
	t  testing.TB
	nc net.Conn

	wmu  sync.Mutex // wfr, enc, hbuf, next
	wfr  *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32       // the next stream ID OpenGRPC takes
	acks atomic.Int32 // SETTINGS ACKs owed; written by whoever holds wmu

	br      *bufio.Reader
	dec     *hpack.Decoder
	frames  chan http2.Frame // closed when the reader stops
	dropped atomic.Int64
	done    chan struct{} // closed when the reader has stopped
	closing sync.Once

	mu      sync.Mutex
	cond    *sync.Cond        // signalled on every change below
	connWin int64             // what the client may still send, connection level
	ended   map[uint32]Ending // first ending of each stream
	readErr error             // why the reader stopped; nil while it reads
}

// dialTimeout bounds the TCP connect and TLS handshake; connDeadline is
// the deadline Dial puts on the connection as a whole, far beyond any
// test here, so that a stuck test fails instead of hanging.
const (
	dialTimeout  = 10 * time.Second
	connDeadline = 60 * time.Second
)

// Dial connects to addr, sends the client preface and a SETTINGS frame
// with o.Settings, and starts the reader; it fails the test if any of that
// fails. The connection has a read and write deadline 60 s ahead (a test
// may change it through NetConn). t.Cleanup closes the connection and
// waits for the reader to stop, so no goroutine outlives the test.
func Dial(t testing.TB, addr string, o Options) *Conn {
	t.Helper()
	d := &net.Dialer{Timeout: dialTimeout}
	var nc net.Conn
	var err error
	if o.TLS != nil {
		cfg, wantH2 := o.TLS, len(o.TLS.NextProtos) == 0
		if wantH2 {
			cfg = cfg.Clone()
			cfg.NextProtos = []string{"h2"}
		}
		var tc *tls.Conn
		tc, err = tls.DialWithDialer(d, "tcp", addr, cfg)
		if err == nil && wantH2 && tc.ConnectionState().NegotiatedProtocol != "h2" {
			_ = tc.Close()
			err = fmt.Errorf("server chose ALPN %q, not h2", tc.ConnectionState().NegotiatedProtocol)
		}
		nc = tc
	} else {
		nc, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("h2raw: dial %s: %v", addr, err)
	}
	_ = nc.SetDeadline(time.Now().Add(connDeadline))
	n := o.Frames
	if n <= 0 {
		n = DefaultFrames
	}
	c := &Conn{
		t: t, nc: nc, wfr: http2.NewFramer(nc, nil), next: 1,
		br:     bufio.NewReader(nc),
		dec:    hpack.NewDecoder(4096, nil),
		frames: make(chan http2.Frame, n),
		done:   make(chan struct{}),
		ended:  map[uint32]Ending{}, connWin: 65535,
	}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.cond = sync.NewCond(&c.mu)
	if i := slices.IndexFunc(o.Settings, func(s http2.Setting) bool { return s.ID == http2.SettingHeaderTableSize }); i >= 0 {
		c.dec.SetAllowedMaxDynamicTableSize(o.Settings[i].Val)
	}
	if _, err := nc.Write([]byte(http2.ClientPreface)); err != nil {
		_ = nc.Close()
		t.Fatalf("h2raw: preface to %s: %v", addr, err)
	}
	if err := c.wfr.WriteSettings(o.Settings...); err != nil {
		_ = nc.Close()
		t.Fatalf("h2raw: SETTINGS to %s: %v", addr, err)
	}
	go c.read()
	t.Cleanup(c.Close)
	return c
}

// NetConn returns the underlying connection, for deadlines and for tests
// that write bytes no Framer would. Writing to it directly races with the
// reader's SETTINGS ACKs; go through Write when that matters.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the connection and waits for the reader to stop. It may be
// called more than once; Dial's cleanup calls it too.
func (c *Conn) Close() {
	c.closing.Do(func() { _ = c.nc.Close() })
	<-c.done
}

// Write calls fn with the connection's Framer while holding the write
// lock, and returns fn's error. Frames written in one call are never
// interleaved with the reader's SETTINGS ACKs or other Write calls, so a
// sequence that must stay whole (HEADERS then its CONTINUATIONs) goes in
// one call; an ACK owed meanwhile follows the call. fn must not keep fr,
// nor call back into c's writing methods (it would deadlock).
func (c *Conn) Write(fn func(fr *http2.Framer) error) error {
	c.wmu.Lock()
	defer c.unlock()
	return fn(c.wfr)
}

// WriteHeaders writes one HEADERS frame on stream id with END_HEADERS,
// whatever the block's size (a block over the server's
// SETTINGS_MAX_FRAME_SIZE is a violation a test may want), END_STREAM when
// endStream. It encodes fields in order with the connection's HPACK
// encoder, whose dynamic table mirrors the server's decoder: a test that
// also writes blocks encoded elsewhere must not let those add to the
// server's table before a later WriteHeaders or OpenGRPC.
func (c *Conn) WriteHeaders(id uint32, endStream bool, fields ...hpack.HeaderField) error {
	c.wmu.Lock()
	defer c.unlock()
	return c.writeHeadersLocked(id, endStream, fields)
}

func (c *Conn) writeHeadersLocked(id uint32, endStream bool, fields []hpack.HeaderField) error {
	c.hbuf.Reset()
	for _, hf := range fields {
		if err := c.enc.WriteField(hf); err != nil {
			return fmt.Errorf("h2raw: encoding %q on stream %d: %w", hf.Name, id, err)
		}
	}
	return c.wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true, EndStream: endStream})
}

// unlock writes the SETTINGS ACKs the reader left owed, then releases wmu.
// The reader adds to acks before it tries the lock; a holder checks acks
// after releasing, so an ACK owed while the lock was held is never left
// unwritten (the reader itself never waits for the lock).
func (c *Conn) unlock() {
	for {
		for n := c.acks.Swap(0); n > 0; n-- {
			_ = c.wfr.WriteSettingsAck() // a broken connection ends the reader
		}
		c.wmu.Unlock()
		if c.acks.Load() == 0 || !c.wmu.TryLock() {
			return
		}
	}
}

// read handles the server's frames until the connection ends.
func (c *Conn) read() {
	defer close(c.done)
	for {
		// A Framer per frame: a frame keeps its buffer after the next read.
		fr := http2.NewFramer(nil, c.br)
		fr.ReadMetaHeaders = c.dec
		f, err := fr.ReadFrame()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.cond.Broadcast()
			c.mu.Unlock()
			close(c.frames)
			return
		}
		c.handle(f)
		c.queue(f)
	}
}

// handle does what the reader owes the server and records what the
// connection's other methods report.
func (c *Conn) handle(f http2.Frame) {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			c.acks.Add(1)
			if c.wmu.TryLock() {
				c.unlock()
			}
		}
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			c.mu.Lock()
			c.connWin += int64(f.Increment)
			c.cond.Broadcast()
			c.mu.Unlock()
		}
	case *http2.MetaHeadersFrame:
		if f.StreamEnded() {
			st := StatusMissing
			for _, hf := range f.RegularFields() {
				if hf.Name == "grpc-status" {
					if v, err := strconv.Atoi(hf.Value); err == nil {
						st = v
					}
				}
			}
			c.end(f.StreamID, Ending{Status: st})
		}
	case *http2.DataFrame:
		if f.StreamEnded() {
			c.end(f.StreamID, Ending{Status: StatusMissing})
		}
	case *http2.RSTStreamFrame:
		c.end(f.StreamID, Ending{Status: StatusReset, Reset: true, Code: f.ErrCode})
	}
}

// queue hands f to Next, dropping the oldest queued frame when full. Only
// the reader sends on c.frames, so after one receive the send succeeds.
func (c *Conn) queue(f http2.Frame) {
	for {
		select {
		case c.frames <- f:
			return
		default:
		}
		select {
		case <-c.frames:
			c.dropped.Add(1)
		default:
		}
	}
}

// Next returns the oldest queued frame, waiting up to d for one. When the
// queue is empty and the reader has stopped, it returns the reader's error
// (io.EOF when the server closed the connection cleanly); when d passes
// first, an error wrapping os.ErrDeadlineExceeded (its Timeout() is true).
// Frames Next returns are gone from the queue.
func (c *Conn) Next(d time.Duration) (http2.Frame, error) {
	select {
	case f, ok := <-c.frames:
		return c.got(f, ok)
	default:
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case f, ok := <-c.frames:
		return c.got(f, ok)
	case <-timer.C:
		return nil, fmt.Errorf("h2raw: no frame within %v: %w", d, os.ErrDeadlineExceeded)
	}
}

func (c *Conn) got(f http2.Frame, ok bool) (http2.Frame, error) {
	if !ok {
		return nil, c.Err()
	}
	return f, nil
}

// Await takes queued frames in order until match accepts one, and returns
// that one; the frames before it are gone. It fails the test, naming what
// it waited for, when d passes or the connection ends first.
func (c *Conn) Await(d time.Duration, what string, match func(http2.Frame) bool) http2.Frame {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := c.Next(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting %v for %s: %v", d, what, err)
		}
		if match(f) {
			return f
		}
	}
}

// IsSettingsAck is a matcher for Await: a SETTINGS ACK.
func IsSettingsAck(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() }

// IsGoAway is a matcher for Await: a GOAWAY.
func IsGoAway(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }

// IsHeaders is a matcher for Await: a HEADERS frame (decoded, with its
// CONTINUATIONs, as a *http2.MetaHeadersFrame).
func IsHeaders(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }

// Ping writes a PING carrying data and waits up to d for its ACK (a PING
// ACK with the same data) as Await does; it fails the test if the write
// fails or no ACK comes.
func (c *Conn) Ping(d time.Duration, data [8]byte) {
	c.t.Helper()
	if err := c.Write(func(fr *http2.Framer) error { return fr.WritePing(false, data) }); err != nil {
		c.t.Fatalf("h2raw: PING: %v", err)
	}
	c.Await(d, "PING ACK", func(f http2.Frame) bool {
		pf, ok := f.(*http2.PingFrame)
		return ok && pf.IsAck() && pf.Data == data
	})
}

// Dropped returns how many received frames were dropped from a full queue
// so far (they were still acknowledged and recorded).
func (c *Conn) Dropped() int64 { return c.dropped.Load() }

// Err returns why the reader stopped (io.EOF: the server closed the
// connection cleanly), or nil while it still reads.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// Closed reports whether the connection ended (the reader stopped on an
// error: the server closed it, or Close was called) within d.
func (c *Conn) Closed(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c.done:
		return true
	case <-timer.C:
		return false
	}
}
