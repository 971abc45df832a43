package nbioengine

import (
	"net"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
)

// Why connections are shut down rather than closed here.
//
// nbio (v1.6.8) closes a descriptor on whichever goroutine calls Close, while
// a poller may still hold an event for that descriptor in the batch its last
// epoll_wait returned. The kernel gives the next accepted connection the
// lowest free descriptor, often the one just closed; the poller then looks the
// stale event up by number and applies it to the new connection. A stale
// EPOLLRDHUP (the client of the old connection closed at the same moment, as
// every client of a Connection: close response does) makes nbio close the new
// connection before it has been answered: its client sees EOF. Measured: 3 to
// 7 of 2,000 new connections in four runs, each opened after a Connection:
// close exchange (TestNoStaleEventCloses without this file's remedy).
//
// A poller never has a stale event for a descriptor it closed itself in its
// own event loop. So this engine never closes a live connection from another
// goroutine: it shuts the socket down, the kernel wakes the connection's own
// poller (end of stream, or a hang-up), and the poller closes it.
//
// The engine's own read-header, read and idle deadlines (connstate.go) end a
// connection the same way, with a shutdown. What is left: nbio's own timers
// (the write timeout, and the lingerTimeout below) still close from the
// timer's goroutine. They fire on connections with nothing in flight, so the
// race needs a client that acts at that very moment; engine.Stop closes
// everything, but nothing is accepted then.

// lingerTimeout bounds how long a connection whose response said
// Connection: close waits for the client to close its side before it is cut
// (net/http waits 500 ms in the same situation).
const lingerTimeout = 500 * time.Millisecond

// shutdown shuts c's socket down (syscall.SHUT_WR, SHUT_RDWR) unless nbio has
// closed it already; it reports whether it did. nbio marks a connection
// closed under the connection's lock before it closes the descriptor, so,
// while the lock is held and the mark is not set, the descriptor still
// belongs to c and cannot be another connection's.
func shutdown(c *nbio.Conn, how int) bool {
	c.Lock()
	defer c.Unlock()
	if closed, _ := c.IsClosed(); closed {
		return false
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	done := false
	_ = rc.Control(func(fd uintptr) { done = syscall.Shutdown(int(fd), how) == nil })
	return done
}

// lingeringClose ends a connection after its last response: the response's
// bytes are already written (it runs as the connection's next job), so
// shutting the sending side sends them, then FIN; the client closes its side
// and nbio's poller closes the connection. A client that does not close is
// cut after lingerTimeout.
func lingeringClose(c *nbio.Conn) {
	if shutdown(c, syscall.SHUT_WR) {
		_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
		return
	}
	// Already closed (then Close does nothing), or the shutdown failed (the
	// peer reset it): close as nbio would.
	_ = c.Close()
}

// closeFromOutside ends a connection from a goroutine other than its
// poller's (a shutdown's drain or cut-off): both directions are shut down,
// so the poller sees a hang-up and closes it; a handler still writing gets
// an error instead of reaching the client.
func closeFromOutside(c net.Conn) {
	if nc, ok := c.(*nbio.Conn); ok {
		if shutdown(nc, syscall.SHUT_RDWR) {
			return
		}
		if closed, _ := nc.IsClosed(); closed {
			return
		}
	}
	_ = c.Close()
}
