package portmux

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Frame types the guard counts (RFC 9113 §6), beside those in sniff.go.
const (
	frameData         = 0x0
	framePriority     = 0x2
	frameRSTStream    = 0x3
	framePing         = 0x6
	frameWindowUpdate = 0x8

	flagEndStream = 0x1

	errEnhanceYourCalm = 0xb // GOAWAY error code (RFC 9113 §7)
)

// FloodLimits is the per-connection budget of HTTP/2 frames that make a
// server work without asking it for anything (RFC 9113 §10.5: "an endpoint
// MAY treat activity that is suspicious as a connection error of type
// ENHANCE_YOUR_CALM"). Counts are per connection per one-second window;
// zero fields take the defaults. The defaults are far above what any
// client library sends (grpc-go and browsers send a handful of SETTINGS and
// PINGs per connection lifetime) and far below what a flood sends (hundreds
// of thousands per second).
type FloodLimits struct {
	// Settings bounds SETTINGS frames that are not acknowledgements.
	Settings int
	// Pings bounds PING frames that are not acknowledgements, beyond one
	// per DATA or HEADERS frame the server sent in the window: grpc-go
	// clients measure bandwidth-delay with a PING per burst of data they
	// receive, so a busy connection sees as many PINGs as responses.
	Pings int
	// Resets bounds RST_STREAM frames from the client, once they also
	// outnumber half the streams the client opened in the window: a client
	// that cancels some of many calls is not a rapid-reset attack
	// (CVE-2023-44487), one that cancels nearly all it opens is.
	Resets int
	// Empty bounds frames that carry nothing: DATA without payload or
	// END_STREAM, CONTINUATION without payload or END_HEADERS, PRIORITY,
	// and frames of unknown type.
	Empty int
	// Continuations bounds CONTINUATION frames in one header block
	// (CVE-2024-27316: a header block that never ends).
	Continuations int
}

// Default flood limits.
const (
	DefaultMaxSettings      = 100
	DefaultMaxPings         = 100
	DefaultMaxResets        = 1000
	DefaultMaxEmpty         = 1000
	DefaultMaxContinuations = 64
)

func (l FloodLimits) withDefaults() FloodLimits {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.Settings, DefaultMaxSettings)
	set(&l.Pings, DefaultMaxPings)
	set(&l.Resets, DefaultMaxResets)
	set(&l.Empty, DefaultMaxEmpty)
	set(&l.Continuations, DefaultMaxContinuations)
	return l
}

// ErrFlood is the error a flooding connection's server reads once the guard
// has cut it off (wrapped with the reason).
var ErrFlood = errors.New("portmux: HTTP/2 frame flood")

// frameWalker follows frame boundaries in an HTTP/2 byte stream fed to it in
// arbitrary pieces, calling onFrame with each frame header (never with
// payload bytes). It keeps at most a partial 9-byte header.
type frameWalker struct {
	pre  int // preface bytes still to skip
	head [frameHeaderLen]byte
	nh   int // bytes of head gathered
	skip int // payload bytes of the current frame still to skip
}

// walk advances over b; onFrame returns false to stop early.
func (w *frameWalker) walk(b []byte, onFrame func(h *[frameHeaderLen]byte) bool) {
	for len(b) > 0 {
		switch {
		case w.pre > 0:
			n := min(w.pre, len(b))
			w.pre -= n
			b = b[n:]
		case w.skip > 0:
			n := min(w.skip, len(b))
			w.skip -= n
			b = b[n:]
		default:
			n := copy(w.head[w.nh:], b)
			w.nh += n
			b = b[n:]
			if w.nh < frameHeaderLen {
				return
			}
			w.nh = 0
			w.skip = int(w.head[0])<<16 | int(w.head[1])<<8 | int(w.head[2])
			if !onFrame(&w.head) {
				return
			}
		}
	}
}

// atBoundary reports whether the stream so far ends between frames.
func (w *frameWalker) atBoundary() bool { return w.pre == 0 && w.nh == 0 && w.skip == 0 }

// guard enforces FloodLimits on one HTTP/2 connection: it watches the
// frames the server reads and, when the client exceeds a budget, writes
// GOAWAY(ENHANCE_YOUR_CALM) between two of the server's own frames (it
// tracks their boundaries in what the server writes) and closes the
// connection. Written here rather than taken from x/net/http2 or grpc-go
// because it must cover both servers behind the port, which each lack some
// of these limits (SETTINGS floods on both, rapid reset on grpc-go).
type guard struct {
	c      *Conn
	limits FloodLimits
	now    func() time.Time

	// Read side: only the server's reading goroutine touches these.
	in          frameWalker
	windowStart time.Time
	settings    int
	pings       int
	resets      int
	opened      int // HEADERS frames that open a stream, this window
	empty       int
	contStream  uint32 // stream of the header block in progress; 0: none
	conts       int    // CONTINUATION frames in that block
	lastStream  uint32 // highest client stream seen (GOAWAY's last stream)
	sentAtStart int64  // sent's value when the window started
	tripped     error

	// Write side: the server's writing goroutine, under mu.
	mu   sync.Mutex
	out  frameWalker
	sent atomic.Int64 // DATA and HEADERS frames the server has written

	closed atomic.Bool
}

func newGuard(c *Conn, limits FloodLimits, prefaceToSkip int) *guard {
	return &guard{c: c, limits: limits.withDefaults(), now: time.Now, in: frameWalker{pre: prefaceToSkip}}
}

// observe counts the frames in b, bytes the server just read. It returns a
// non-nil error once the connection has exceeded a budget.
func (g *guard) observe(b []byte) error {
	if g.tripped != nil {
		return g.tripped
	}
	// The window is checked once per read, not per frame: one clock read
	// for all the frames a read returns.
	if now := g.now(); now.Sub(g.windowStart) >= time.Second {
		g.windowStart = now
		g.settings, g.pings, g.resets, g.opened, g.empty = 0, 0, 0, 0, 0
		g.sentAtStart = g.sent.Load()
	}
	g.in.walk(b, g.frame)
	return g.tripped
}

// frame accounts one frame header read from the client.
func (g *guard) frame(h *[frameHeaderLen]byte) bool {
	length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	typ, flags := h[3], h[4]
	id := (uint32(h[5])<<24 | uint32(h[6])<<16 | uint32(h[7])<<8 | uint32(h[8])) & 0x7fffffff
	var why string
	switch typ {
	case frameSettings:
		if flags&flagAck == 0 {
			if g.settings++; g.settings > g.limits.Settings {
				why = "SETTINGS"
			}
		}
	case framePing:
		if flags&flagAck == 0 {
			if g.pings++; g.pings > g.limits.Pings && int64(g.pings-g.limits.Pings) > g.sent.Load()-g.sentAtStart {
				why = "PING"
			}
		}
	case frameRSTStream:
		if g.resets++; g.resets > g.limits.Resets && g.resets*2 > g.opened {
			why = "RST_STREAM (rapid reset)"
		}
	case frameHeaders:
		if id > g.lastStream {
			g.lastStream = id
			g.opened++
		}
		if flags&flagEndHeaders == 0 {
			g.contStream, g.conts = id, 0
		}
	case frameContinuation:
		if g.conts++; g.conts > g.limits.Continuations {
			why = "CONTINUATION"
		}
		if flags&flagEndHeaders != 0 {
			g.contStream, g.conts = 0, 0
		} else if length == 0 {
			why = g.countEmpty(why)
		}
	case frameData:
		if length == 0 && flags&flagEndStream == 0 {
			why = g.countEmpty(why)
		}
	case frameWindowUpdate, frameGoAway:
	default: // PRIORITY, PUSH_PROMISE (a protocol error the server reports), unknown types
		why = g.countEmpty(why)
	}
	if why != "" {
		g.tripped = fmt.Errorf("%w: %s over budget", ErrFlood, why)
		g.cutOff(why)
		return false
	}
	return true
}

func (g *guard) countEmpty(why string) string {
	if g.empty++; g.empty > g.limits.Empty && why == "" {
		return "empty or PRIORITY frames"
	}
	return why
}

// cutOff sends GOAWAY(ENHANCE_YOUR_CALM), if the server's output is
// between frames and no write of the server's is in progress, then closes
// the connection gracefully: it shuts the write side and reads (and
// discards) what the client still sends for up to lingerFor, so the client
// reads the GOAWAY instead of a reset. The server sees ErrFlood on its next
// read and an error on its next write; its Close is deferred to the end of
// the linger.
func (g *guard) cutOff(why string) {
	if !g.closed.CompareAndSwap(false, true) {
		return
	}
	if g.lockWithin(100 * time.Millisecond) { // a write blocked by a client that does not read is not waited for
		if g.out.atBoundary() {
			_ = g.c.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = g.c.writeRaw(goaway(g.lastStream, errEnhanceYourCalm, "flood of "+why))
		}
		g.mu.Unlock()
	}
	if cw, ok := g.c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	go g.linger()
	if g.c.onFlood != nil {
		g.c.onFlood(g.c.RemoteAddr(), g.tripped)
	}
}

// lockWithin takes g.mu if it can within d.
func (g *guard) lockWithin(d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(time.Millisecond) {
		if g.mu.TryLock() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// lingerFor bounds the drain after a cut-off.
const lingerFor = 500 * time.Millisecond

// linger discards the client's bytes until it closes or lingerFor passes,
// then closes the connection.
func (g *guard) linger() {
	_ = g.c.Conn.SetReadDeadline(time.Now().Add(lingerFor))
	buf := make([]byte, 4096)
	for {
		if _, err := g.c.Conn.Read(buf); err != nil {
			break
		}
	}
	_ = g.c.Conn.Close()
}

// write passes the server's bytes through, tracking frame boundaries.
func (g *guard) write(b []byte) (int, error) {
	if g.closed.Load() {
		return 0, ErrFlood
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n, err := g.c.writeRaw(b)
	g.out.walk(b[:n], g.sentFrame)
	return n, err
}

// sentFrame counts the server's DATA and HEADERS frames.
func (g *guard) sentFrame(h *[frameHeaderLen]byte) bool {
	if h[3] == frameData || h[3] == frameHeaders {
		g.sent.Add(1)
	}
	return true
}

// goaway builds a GOAWAY frame.
func goaway(lastStream uint32, code byte, debug string) []byte {
	n := 8 + len(debug)
	f := []byte{byte(n >> 16), byte(n >> 8), byte(n), frameGoAway, 0, 0, 0, 0, 0,
		byte(lastStream >> 24), byte(lastStream >> 16), byte(lastStream >> 8), byte(lastStream), 0, 0, 0, code}
	return append(f, debug...)
}
