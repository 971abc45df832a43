package fasthttpengine

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// limitListener caps open connections like golang.org/x/net/netutil's
// LimitListener (connections over the cap wait in the kernel's accept queue,
// as on the net/http engine), and in addition:
//   - its connections keep SyscallConn, which the disconnect watcher needs
//     (netutil's wrapper hides it);
//   - it tracks open connections so a shutdown that runs out of time can
//     close them (fasthttp leaves them running);
//   - its connections keep socket deadlines coarse (see limitConn), so that
//     fasthttp's four deadlines per request rarely reach the runtime's timers.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// Deadline slack of the connections (see coarseDeadline); 0 = exact.
	readSlack, writeSlack time.Duration

	mu    sync.Mutex
	conns map[*limitConn]struct{}
}

// newLimitListener caps ln at n open connections whose read and write
// deadlines may fire up to readSlack and writeSlack late (0: exact).
func newLimitListener(ln net.Listener, n int, readSlack, writeSlack time.Duration) *limitListener {
	return &limitListener{
		Listener:   ln,
		sem:        make(chan struct{}, n),
		done:       make(chan struct{}),
		conns:      map[*limitConn]struct{}{},
		readSlack:  readSlack,
		writeSlack: writeSlack,
	}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	lc := &limitConn{Conn: c, l: l, readSlack: l.readSlack, writeSlack: l.writeSlack}
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	return lc, nil
}

// Close stops accepting; open connections stay open.
func (l *limitListener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// closeConns closes every open connection (hard stop).
func (l *limitListener) closeConns() {
	l.mu.Lock()
	conns := make([]*limitConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// limitConn releases its slot once, on the first Close, and keeps its socket
// deadlines coarse.
//
// Why: fasthttp moves the read deadline three times per request (idle wait,
// read-header timeout after the first byte, read timeout after the headers)
// and the write deadline once. Each move of a socket deadline reads the
// monotonic clock twice and re-arms a runtime timer under the poll
// descriptor's lock: about 1.6 µs of server CPU per request on the shared
// 2-core VM (docs/engines.md), where the whole bare fasthttp request costs
// 14-18 µs. nginx avoids the same cost by timing connections with its cached
// clock. Here:
//   - a deadline the socket already has that is no earlier than the wanted
//     one and at most the slack later is kept (coarseDeadline); a moved
//     deadline is armed the slack later than wanted, so the next requests on
//     the connection keep it. A timeout therefore fires between its duration
//     and its duration plus the slack after the event that set it, never
//     early;
//   - the read deadline is armed lazily, when a Read starts (or at once if a
//     Read is in progress), so the read-header and read timeouts that
//     fasthttp sets for a request whose bytes are already buffered never
//     reach the socket. A Read still always runs under the deadline last set.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once

	readSlack, writeSlack time.Duration

	mu       sync.Mutex
	reading  int       // Reads in progress
	readWant time.Time // the read deadline last set (zero: none)
	readCur  time.Time // the read deadline armed on the socket
	writeCur time.Time // the write deadline armed on the socket
}

// coarseDeadline decides which deadline a socket should have when want is
// asked for and cur is armed: it keeps cur (move false) while cur is no
// earlier than want and at most slack later; otherwise it returns want+slack
// (move true), so that later wants up to slack past this one keep it. A zero
// want (no deadline) is exact. The result is never earlier than want and at
// most slack later. A pure function: the rule the connections follow.
func coarseDeadline(cur, want time.Time, slack time.Duration) (next time.Time, move bool) {
	if want.IsZero() {
		return want, !cur.IsZero()
	}
	if !cur.IsZero() && !cur.Before(want) && cur.Sub(want) <= slack {
		return cur, false
	}
	return want.Add(slack), true
}

// Read arms the read deadline last set (coarsely), then reads.
func (c *limitConn) Read(b []byte) (int, error) {
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
// of want (coarseDeadline). c.mu must be held.
func (c *limitConn) armLocked(write bool, want time.Time) error {
	cur, slack := &c.readCur, c.readSlack
	if write {
		cur, slack = &c.writeCur, c.writeSlack
	}
	next, move := coarseDeadline(*cur, want, slack)
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
// armed at once. See limitConn for the precision.
func (c *limitConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readWant = t
	if c.reading > 0 {
		return c.armLocked(false, c.readWant)
	}
	return nil
}

// SetWriteDeadline arms t coarsely (see limitConn).
func (c *limitConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armLocked(true, t)
}

// SetDeadline sets both deadlines, as SetReadDeadline and SetWriteDeadline.
func (c *limitConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// setReadDeadlineNow arms t on the socket exactly and at once, for readers
// that bypass Read (the disconnect watcher's raw reads).
func (c *limitConn) setReadDeadlineNow(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readWant = t
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	c.readCur = t
	return nil
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		<-c.l.sem
	})
	return err
}

var errNoSyscallConn = errors.New("fasthttpengine: connection has no file descriptor")

// SyscallConn exposes the socket for the disconnect watcher.
func (c *limitConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}
