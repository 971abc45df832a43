package connlimit

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Option configures New and Cap.
type Option func(*Listener)

// WithLogger sets where Accept reports the errors it retries (one Warn line
// a second at most, with the number of retries it did not report). The
// default, like net/http's ErrorLog, is the process's default logger
// (slog.Default()).
func WithLogger(log *slog.Logger) Option {
	return func(l *Listener) { l.log = log }
}

// WithLingeringClose makes the connections' Close a lingering close, for a
// server that closes a connection as soon as it has answered, whatever the
// client is still sending (fasthttp: a 431 or 413 answered while the client
// still writes the oversized request). A plain close with unread bytes in
// the socket's receive buffer makes the kernel send a reset, and a client
// that is still writing then gets "connection reset" instead of the answer.
// Here Close shuts the write side (the answer goes out, then a FIN), and
// discards what the client still sends until it closes its side, d passes
// or maxLingerBytes were read; only then is the socket closed and the slot
// given back. nginx does the same (lingering_close). net/http needs none: it
// waits 500 ms itself after such answers. CloseConns (a hard stop) never
// lingers.
func WithLingeringClose(d time.Duration) Option {
	return func(l *Listener) { l.linger = d }
}

// maxLingerBytes bounds what a lingering close reads: a client that keeps
// sending cannot hold the goroutine and descriptor beyond that.
const maxLingerBytes = 1 << 20

// The back-off of a retried accept error, net/http's: 5 ms, doubling, at
// most 1 s.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// Temporary reports whether err, from a listener's Accept, says the process
// or the kernel is out of something that connections closing give back:
// file descriptors (EMFILE, ENFILE), socket buffers or memory (ENOBUFS,
// ENOMEM), or that one queued connection was reset before it was taken
// (ECONNABORTED). Accepting again later can succeed; serving must go on.
//
// Why here and not in each server's accept loop: they decide differently.
// net/http retries what net.Error's deprecated Temporary says; fasthttp
// retries only Timeout errors and returns the others from Serve (EMFILE
// made `hotpath serve --engine fasthttp` exit 1); portmux's loop stopped on
// them too (2026-12-07 hostile run). Retried here, none of them sees them.
func Temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// acceptRetrying accepts from the wrapped listener, retrying Temporary
// errors with a back-off until a connection comes, another error comes,
// or Close (which returns net.ErrClosed).
func (l *Listener) acceptRetrying() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || !Temporary(err) {
			return c, err
		}
		delay = min(max(2*delay, minAcceptBackoff), maxAcceptBackoff)
		if ok, skipped := l.retryLog.allow(time.Now()); ok {
			log := l.log
			if log == nil {
				log = slog.Default()
			}
			log.Warn("accept failed; retrying", "addr", l.Addr().String(), "err", err.Error(),
				"retry_in", delay, "unreported_retries", skipped,
				"hint", "out of file descriptors or socket buffers: raise the open-file limit (ulimit -n, LimitNOFILE) or lower the connection cap")
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// logLimiter lets one report through per logEvery and counts the rest.
type logLimiter struct {
	mu      sync.Mutex
	last    time.Time // the last report let through; zero: none yet
	skipped int       // reports held back since
}

const logEvery = time.Second

// allow reports whether a report at now may go out (the first one, or one
// at least logEvery after the last that did) and, if so, how many were held
// back since that last one. A pure function of the times passed in.
func (g *logLimiter) allow(now time.Time) (ok bool, skipped int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.last.IsZero() && now.Sub(g.last) < logEvery {
		g.skipped++
		return false, 0
	}
	skipped, g.skipped, g.last = g.skipped, 0, now
	return true, skipped
}
