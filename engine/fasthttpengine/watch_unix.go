//go:build linux || darwin || freebsd || netbsd || openbsd

package fasthttpengine

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/hotpath-dev/hotpath/internal/connlimit"
)

// watchDisconnect calls gone once if the peer closes or resets c while the
// watch runs. It peeks at the socket (MSG_PEEK, nothing is consumed) when the
// netpoller reports it readable: a zero-byte peek is EOF. If the client sends
// more data instead (pipelining), the watch ends without calling gone: the
// next request is still unread, so the client has not left.
//
// stop ends the watch and waits for its goroutine; the connection's read
// deadline is cleared (fasthttp sets its own before the next read). c must not
// be read by anyone else until stop returns.
//
// Why by hand: fasthttp has no per-request cancellation (its RequestCtx.Done
// closes only at server shutdown) and reads the connection only between
// requests, so nothing else notices a client that leaves mid-request.
func watchDisconnect(c net.Conn, gone func()) (stop func()) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return func() {}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf [1]byte
		closed := false
		err := rc.Read(func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				return false // not readable yet: wait in the netpoller
			}
			closed = err != nil || n == 0
			return true
		})
		if err == nil && closed {
			gone()
		}
	}()
	setNow := c.SetReadDeadline
	if lc, ok := c.(*connlimit.Conn); ok {
		// The raw read does not go through connlimit.Conn.Read, which arms
		// the deadline lazily: arm it now, exactly.
		setNow = lc.SetReadDeadlineNow
	}
	return func() {
		_ = setNow(aLongTimeAgo)
		<-done
		_ = setNow(time.Time{})
	}
}

var aLongTimeAgo = time.Unix(1, 0)
