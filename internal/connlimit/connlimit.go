// Package connlimit caps a listener's open connections and keeps their socket
// deadlines coarse, for the servers of this module (package server on
// net/http, engine/fasthttpengine on fasthttp). Its Accept also rides out
// running out of file descriptors (see Listener.Accept), and CheckNoFile
// warns at start-up when the open-file limit is below the cap.
//
// Why not golang.org/x/net/netutil.LimitListener: besides the cap, the
// connections here keep SyscallConn (a disconnect watcher needs it), the
// listener can close every open connection (a hard stop), and each
// connection moves its socket deadlines only when the wanted deadline leaves
// a slack window (see Conn). Both HTTP servers move a read deadline three to
// five times per request; each move reads the clock and re-arms a runtime
// timer under the poll descriptor's lock.
package connlimit

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Listener caps open connections like golang.org/x/net/netutil's
// LimitListener (connections over the cap wait in the kernel's accept
// queue), and in addition:
//   - its connections keep SyscallConn, which a disconnect watcher needs
//     (netutil's wrapper hides it);
//   - it tracks open connections so a shutdown that runs out of time can
//     close them (CloseConns);
//   - its connections keep socket deadlines coarse (see Conn), so that the
//     HTTP servers' deadline moves rarely reach the runtime's timers;
//   - its Accept retries running out of descriptors (see Accept), which
//     fasthttp's accept loop would treat as fatal.
type Listener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// Deadline slack of the connections (see CoarseDeadline); 0 = exact.
	readSlack, writeSlack time.Duration

	linger time.Duration // WithLingeringClose; 0: plain close

	log      *slog.Logger // where retried accept errors go; nil: slog.Default()
	retryLog logLimiter

	mu    sync.Mutex
	conns map[*Conn]struct{}
}

// New caps ln at n open connections (n > 0) whose read and write deadlines
// may fire up to readSlack and writeSlack late (0: exact); Slack computes
// them from the timeouts that share a deadline.
func New(ln net.Listener, n int, readSlack, writeSlack time.Duration, opts ...Option) *Listener {
	l := &Listener{
		Listener:   ln,
		sem:        make(chan struct{}, n),
		done:       make(chan struct{}),
		conns:      map[*Conn]struct{}{},
		readSlack:  readSlack,
		writeSlack: writeSlack,
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Accept waits for a free slot, then for a connection. The connection is a
// *Conn. Errors that say the process or the kernel is out of descriptors
// or buffers for now (Temporary) are retried inside Accept with a back-off
// of 5 ms doubling to 1 s, and reported on the logger (WithLogger) at most
// once a second; Accept returns only a connection, net.ErrClosed after
// Close, or another error of the listener it wraps.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.acceptSlot()
	if err != nil {
		return nil, err
	}
	lc := &Conn{Conn: c, l: l, readSlack: l.readSlack, writeSlack: l.writeSlack}
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	return lc, nil
}

// acceptSlot waits for a free slot, then accepts; the caller's connection
// gives the slot back (<-l.sem) when it closes.
func (l *Listener) acceptSlot() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.acceptRetrying()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return c, nil
}

// Cap caps ln at n open connections (n > 0) and does nothing else: the
// connections' deadlines go to the socket as set, and they keep
// SyscallConn and CloseWrite (netutil.LimitListener's hide both). It is
// for a listener whose connections something else wraps again before a
// server sees them (portmux on a port shared by gRPC and HTTP), where a
// Listener further in keeps deadlines coarse and must be able to arm one at
// once through this layer (SetReadDeadlineNow, for a disconnect watcher).
// Its Accept retries Temporary errors like Listener.Accept, so whatever
// accepts from it (portmux) never sees them.
func Cap(ln net.Listener, n int, opts ...Option) net.Listener {
	return capListener{New(ln, n, 0, 0, opts...)}
}

type capListener struct{ *Listener }

func (l capListener) Accept() (net.Conn, error) {
	c, err := l.acceptSlot()
	if err != nil {
		return nil, err
	}
	return &capConn{Conn: c, sem: l.sem}, nil
}

// capConn gives its slot back on the first Close.
type capConn struct {
	net.Conn
	sem  chan struct{}
	once sync.Once
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.sem })
	return err
}

// SyscallConn exposes the socket.
func (c *capConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}

// CloseWrite shuts the write side down when the socket can (net/http's
// graceful close uses it).
func (c *capConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errNoCloseWrite
}

var errNoCloseWrite = errors.New("connlimit: connection cannot close its write side")

// Close stops accepting; open connections stay open.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// CloseConns closes every open connection (a hard stop).
func (l *Listener) CloseConns() {
	l.mu.Lock()
	conns := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.closeNow()
	}
}

// Conn releases its listener slot once, on the first Close, and keeps its
// socket deadlines coarse.
//
// Why: fasthttp moves the read deadline three times per request (idle wait,
// read-header timeout after the first byte, read timeout after the headers)
// and the write deadline once; net/http moves the read deadline five times
// (idle, cleared, read-header, read, and around its background read) and the
// write deadline once. Each move of a socket deadline re-arms a runtime
// timer under the poll descriptor's lock: about 1.6 µs of server CPU per
// request for fasthttp on the shared 2-core VM (docs/engines.md), where the
// whole bare fasthttp request costs 14-18 µs. nginx avoids the same cost by
// timing connections with its cached clock. Here:
//   - a deadline the socket already has that is no earlier than the wanted
//     one and at most the slack later is kept (CoarseDeadline); a moved
//     deadline is armed the slack later than wanted, so the next requests on
//     the connection keep it. A timeout therefore fires between its duration
//     and its duration plus the slack after the event that set it, never
//     early;
//   - the read deadline is armed lazily, when a Read starts (or at once if a
//     Read is in progress), so the read-header and read timeouts that the
//     servers set for a request whose bytes are already buffered never
//     reach the socket. A Read still always runs under the deadline last
//     set, and a deadline in the past still interrupts a blocked Read at once
//     (net/http aborts its background read that way).
//   - the write deadline is armed lazily too, when a Write starts (or at once
//     if a Write is in progress): net/http sets it when a request's headers
//     are read and clears it after the response, so without a Write in
//     between (every keep-alive request) neither move reaches the socket. A
//     Write always runs under the write deadline last set.
type Conn struct {
	net.Conn
	l         *Listener
	once      sync.Once
	lingering atomic.Bool // Close started a lingering close

	readSlack, writeSlack time.Duration

	mu        sync.Mutex
	reading   int       // Reads in progress
	readWant  time.Time // the read deadline last set (zero: none)
	readCur   time.Time // the read deadline armed on the socket
	writing   int       // Writes in progress
	writeWant time.Time // the write deadline last set (zero: none)
	writeCur  time.Time // the write deadline armed on the socket
}

// CoarseDeadline decides which deadline a socket should have when want is
// asked for and cur is armed: it keeps cur (move false) while cur is no
// earlier than want and at most slack later; otherwise it returns want+slack
// (move true), so that later wants up to slack past this one keep it. A zero
// want (no deadline) is exact. The result is never earlier than want and at
// most slack later. A pure function: the rule the connections follow.
func CoarseDeadline(cur, want time.Time, slack time.Duration) (next time.Time, move bool) {
	if want.IsZero() {
		return want, !cur.IsZero()
	}
	if !cur.IsZero() && !cur.Before(want) && cur.Sub(want) <= slack {
		return cur, false
	}
	return want.Add(slack), true
}

// Read arms the read deadline last set (coarsely), then reads.
func (c *Conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	c.reading++
	err := c.armLocked(false, c.readWant)
	c.mu.Unlock()
	var n int
	if err == nil {
		n, err = c.Conn.Read(b)
	}
	c.mu.Lock()
	c.reading--
	c.mu.Unlock()
	return n, err
}

// armLocked brings the socket's read (or write) deadline to within the slack
// of want (CoarseDeadline). c.mu must be held.
func (c *Conn) armLocked(write bool, want time.Time) error {
	cur, slack := &c.readCur, c.readSlack
	if write {
		cur, slack = &c.writeCur, c.writeSlack
	}
	next, move := CoarseDeadline(*cur, want, slack)
	if !move {
		return nil
	}
	var err error
	if write {
		err = c.Conn.SetWriteDeadline(next)
	} else {
		err = c.Conn.SetReadDeadline(next)
	}
	if err != nil {
		return err
	}
	*cur = next
	return nil
}

// SetReadDeadline records t for the next Read; with a Read in progress it is
// armed at once. See Conn for the precision.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readWant = t
	if c.reading > 0 {
		return c.armLocked(false, c.readWant)
	}
	return nil
}

// Write arms the write deadline last set (coarsely), then writes.
func (c *Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writing++
	err := c.armLocked(true, c.writeWant)
	c.mu.Unlock()
	var n int
	if err == nil {
		n, err = c.Conn.Write(b)
	}
	c.mu.Lock()
	c.writing--
	c.mu.Unlock()
	return n, err
}

// SetWriteDeadline records t for the next Write; with a Write in progress it
// is armed at once. See Conn for the precision.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeWant = t
	if c.writing > 0 {
		return c.armLocked(true, c.writeWant)
	}
	return nil
}

// SetDeadline sets both deadlines, as SetReadDeadline and SetWriteDeadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadlineNow arms t on the socket exactly and at once, for readers
// that bypass Read (a disconnect watcher's raw reads).
func (c *Conn) SetReadDeadlineNow(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readWant = t
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	c.readCur = t
	return nil
}

// Close closes the connection and frees its listener slot (once); with
// WithLingeringClose it shuts the write side and returns at once, and the
// socket is closed (and the slot freed) when the linger ends.
func (c *Conn) Close() error {
	if c.l.linger > 0 && c.lingering.CompareAndSwap(false, true) {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			if err := cw.CloseWrite(); err == nil {
				go c.lingerThenClose(c.l.linger)
				return nil
			}
		}
	}
	return c.closeNow()
}

// lingerThenClose discards what the client still sends until it closes,
// d passes or maxLingerBytes were read, then closes.
func (c *Conn) lingerThenClose(d time.Duration) {
	c.mu.Lock()
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	c.readCur = time.Time{} // no longer the coarse deadline
	c.mu.Unlock()
	buf := make([]byte, 4096)
	for n := 0; n < maxLingerBytes; {
		m, err := c.Conn.Read(buf)
		n += m
		if err != nil {
			break
		}
	}
	c.closeNow()
}

// closeNow closes the socket and frees the listener slot (once).
func (c *Conn) closeNow() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		<-c.l.sem
	})
	return err
}

var errNoSyscallConn = errors.New("connlimit: connection has no file descriptor")

// NetConn returns the connection c wraps, as tls.Conn's NetConn does: for
// code that looks for what is underneath (portmux.ConnContext finds the TLS
// state of a connection portmux terminated through it).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SyscallConn exposes the socket (for a disconnect watcher).
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}

// SlackDivisor sets the precision of the socket deadlines: a timeout may fire
// up to 1/SlackDivisor of the shortest timeout sharing its deadline late
// (read: read-header, read and idle; write: write). With hotpath's defaults
// (5 s, 15 s, 120 s; 20 s) that is 625 ms and 2.5 s.
const SlackDivisor = 8

// Slack is the slack of a socket deadline shared by the timeouts: the
// shortest positive one divided by SlackDivisor; 0 if none is on.
func Slack(timeouts ...time.Duration) time.Duration {
	var shortest time.Duration
	for _, d := range timeouts {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	return shortest / SlackDivisor
}
