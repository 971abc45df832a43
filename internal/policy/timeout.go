package policy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// TimeoutGate decides, for one request, whether the handler or the timeout
// writes the response, so that exactly one of them does and neither races the
// other. The zero value is ready; a gate serves one request (Reset makes it
// ready again).
//
// Engine-neutral core: the handler side calls Enter before touching the
// response and, when it returns true, Commit if the write starts the response
// (status line, body, flush; not a 1xx), then Leave. The timer side calls
// Expire; when it returns true the timeout owns the response: it writes its
// 503, then calls Leave, and every later Enter returns false (the handler's
// writes are discarded). When the handler returns, the adapter calls Close;
// after it Expire returns false. Once Commit was called the handler side may
// skip the gate: Expire can no longer succeed.
type TimeoutGate struct {
	mu        sync.Mutex
	committed bool
	expired   bool
	closed    bool
}

// Enter locks the gate for a handler-side write. It returns false (and does
// not hold the gate) when the timeout already answered or the gate is closed.
func (g *TimeoutGate) Enter() bool {
	g.mu.Lock()
	if g.expired || g.closed {
		g.mu.Unlock()
		return false
	}
	return true
}

// Commit records, between Enter and Leave, that the handler started the
// response.
func (g *TimeoutGate) Commit() { g.committed = true }

// Leave unlocks the gate after Enter returned true or Expire returned true.
func (g *TimeoutGate) Leave() { g.mu.Unlock() }

// Expire is the timer side: it returns true, holding the gate, when the
// response is not committed and the gate is open; the caller then writes the
// timeout response and calls Leave.
func (g *TimeoutGate) Expire() bool {
	g.mu.Lock()
	if g.committed || g.expired || g.closed {
		g.mu.Unlock()
		return false
	}
	g.expired = true
	return true
}

// Close marks the handler as returned and reports whether the timeout had
// answered. Any write the timer side made happens before Close returns.
func (g *TimeoutGate) Close() (expired bool) {
	g.mu.Lock()
	g.closed = true
	expired = g.expired
	g.mu.Unlock()
	return expired
}

// Reset makes a closed gate ready for another request. The caller must be the
// only user of the gate.
func (g *TimeoutGate) Reset() { g.committed, g.expired, g.closed = false, false, false }

// TimeoutBody is the body of the 503 a timed-out request gets.
const TimeoutBody = "request timed out\n"

var timeoutBodyLen = []string{strconv.Itoa(len(TimeoutBody))}

// Timeout returns a middleware that gives each request a deadline d after it
// arrived (when an outer Metrics or AccessLog saw it, else when Timeout did).
// The handler's context reports it (Deadline, Done, Err with
// context.DeadlineExceeded) and the handler should stop when Done closes. If
// the handler has not started its response when the deadline passes, the
// client gets 503 with TimeoutBody at once (flushed; over HTTP/2 the stream
// itself ends only when the handler returns), the handler's later
// writes fail with http.ErrHandlerTimeout and are discarded, and nothing
// races: handler writes and the timeout's 503 go through a TimeoutGate. A
// handler that already started its response is not interrupted. The context
// is canceled when the handler returns. d <= 0 returns a no-op middleware.
//
// Unlike http.TimeoutHandler the handler runs on the server's goroutine (no
// goroutine, buffer or timer per request: deadlines fire from one queue per
// Timeout, whose goroutine lives only while requests come); the connection
// stays busy until the handler returns, so handlers must honour the context. As with
// http.TimeoutHandler, the handler gets its own header map, which starts
// empty and is copied over the real one when the response starts: headers
// set by outer middlewares (request ID, CORS) stay in the response, but the
// handler does not see them in w.Header(). The separate map is what lets the
// timeout write its 503 while the handler may still be touching its headers.
func Timeout(d time.Duration) Middleware {
	if d <= 0 {
		return func(h http.Handler) http.Handler { return h }
	}
	q := newDeadlineQueue(d)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var start mono
			if sw := findStatusWriter(w); sw != nil {
				start = sw.start
			}
			st, r2, deadline := deadlineState(r, start, d)
			tw := timeoutWriterPool.Get().(*timeoutWriter)
			tw.w, tw.st, tw.q = w, st, q
			tw.node.deadline = deadline
			q.add(&tw.node) // publishes the fields to the queue's goroutine
			ok := false
			defer func() { tw.finish(ok) }()
			next.ServeHTTP(tw, r2)
			ok = true
		})
	}
}

// deadlineState returns a state whose deadline is d after start, and the
// request carrying it: the request's own state when it can take a deadline in
// place (no extra allocation), else a new child state. start is the arrival
// time an outer Metrics or AccessLog recorded (reading the clock costs
// 40-100ns on some VMs); zero means now.
func deadlineState(r *http.Request, start mono, d time.Duration) (*reqState, *http.Request, mono) {
	ctx := r.Context()
	st, direct := ctx.(*reqState)
	if !direct {
		st = stateFrom(ctx)
	}
	if start == 0 {
		start = monoNow()
	}
	t := start + mono(d)
	if direct && st.setDeadline(t) {
		return st, r, t
	}
	child := newChildState(r, st)
	child.hasDeadline, child.deadline = true, t
	return child, &child.req, t
}

// timeoutWriter is the ResponseWriter the handler sees under Timeout. Pooled
// together with its header map and queue node; valid until the Timeout
// adapter returns.
type timeoutWriter struct {
	gate        TimeoutGate
	w           http.ResponseWriter
	h           http.Header // the handler's header map
	st          *reqState
	q           *deadlineQueue
	node        qnode
	wroteHeader bool
	hijacked    bool
	hdrLen      int // len(h) when the response started, to spot trailers cheaply
}

var timeoutWriterPool = sync.Pool{New: func() any {
	tw := &timeoutWriter{h: make(http.Header)}
	tw.node.tw = tw
	return tw
}}

// finish runs when the handler returns or panics. The writer goes back to the
// pool only when it left the deadline queue before its deadline (onTimeout can
// then no longer run for it) and the handler returned normally.
func (tw *timeoutWriter) finish(ok bool) {
	stopped := tw.q.remove(&tw.node)
	g := &tw.gate
	g.mu.Lock()
	g.closed = true
	if !g.expired && !tw.hijacked {
		if !tw.wroteHeader {
			tw.copyHeader() // a handler that wrote nothing still sends its headers
		} else if len(tw.h) != tw.hdrLen || len(tw.h["Trailer"]) > 0 {
			// Only then can there be trailers; iterating a map costs a
			// random seed and an iterator, so skip it otherwise.
			tw.copyTrailers()
		}
	}
	g.mu.Unlock()
	tw.st.cancel(context.Canceled)
	if !stopped || !ok {
		return
	}
	clear(tw.h)
	tw.w, tw.st, tw.q, tw.wroteHeader, tw.hijacked, tw.hdrLen = nil, nil, nil, false, false, 0
	g.Reset()
	timeoutWriterPool.Put(tw)
}

// onTimeout runs on its own goroutine, started by the deadline queue, at the
// deadline.
func (tw *timeoutWriter) onTimeout() {
	g := &tw.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	tw.st.cancel(context.DeadlineExceeded)
	if g.committed || g.expired {
		return
	}
	g.expired = true
	// The real header map holds only what outer middlewares set (the handler
	// has its own), so keeping it (request ID, CORS) is right.
	// Content-Length makes the flushed response complete, so the client has
	// it all while the handler is still running.
	tw.w.Header()["Content-Length"] = timeoutBodyLen
	plainError(tw.w, http.StatusServiceUnavailable, TimeoutBody)
	_ = http.NewResponseController(tw.w).Flush() // best effort: send it now
}

// copyHeader copies the handler's headers into the real map. Gate held.
func (tw *timeoutWriter) copyHeader() {
	dst := tw.w.Header()
	for k, v := range tw.h {
		dst[k] = v
	}
}

// copyTrailers copies trailer values set after the response started. Gate held.
func (tw *timeoutWriter) copyTrailers() {
	declared := len(tw.h["Trailer"]) > 0
	dst := tw.w.Header()
	for k, v := range tw.h {
		if declared || len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			dst[k] = v
		}
	}
}

func (tw *timeoutWriter) Header() http.Header { return tw.h }

// commitLocked starts the response; gate held.
func (tw *timeoutWriter) commitLocked() {
	tw.copyHeader()
	tw.hdrLen = len(tw.h)
	tw.wroteHeader = true
	tw.gate.Commit()
}

func (tw *timeoutWriter) WriteHeader(code int) {
	if tw.wroteHeader { // committed: the timer can no longer write
		tw.w.WriteHeader(code)
		return
	}
	if !tw.gate.Enter() {
		return
	}
	defer tw.gate.Leave()
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		tw.copyHeader()
		tw.w.WriteHeader(code)
		return
	}
	tw.commitLocked()
	tw.w.WriteHeader(code)
}

func (tw *timeoutWriter) Write(p []byte) (int, error) {
	if tw.wroteHeader {
		return tw.w.Write(p)
	}
	if !tw.gate.Enter() {
		return 0, http.ErrHandlerTimeout
	}
	tw.commitLocked()
	tw.gate.Leave()
	return tw.w.Write(p)
}

// ReadFrom keeps the sendfile path of the writer below once the response is
// committed.
func (tw *timeoutWriter) ReadFrom(src io.Reader) (int64, error) {
	if !tw.wroteHeader {
		if !tw.gate.Enter() {
			return 0, http.ErrHandlerTimeout
		}
		tw.commitLocked()
		tw.gate.Leave()
	}
	if rf, ok := tw.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{tw.w}, src)
}

// Flush implements http.Flusher.
func (tw *timeoutWriter) Flush() { _ = tw.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (tw *timeoutWriter) FlushError() error {
	if !tw.wroteHeader {
		if !tw.gate.Enter() {
			return http.ErrHandlerTimeout
		}
		tw.commitLocked()
		tw.gate.Leave()
	}
	return http.NewResponseController(tw.w).Flush()
}

// Hijack implements http.Hijacker; it fails with http.ErrHandlerTimeout after
// the timeout answered.
func (tw *timeoutWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !tw.gate.Enter() {
		return nil, nil, http.ErrHandlerTimeout
	}
	defer tw.gate.Leave()
	c, rw, err := http.NewResponseController(tw.w).Hijack()
	if err == nil {
		tw.hijacked, tw.wroteHeader = true, true
		tw.gate.Commit()
	}
	return c, rw, err
}

// Unwrap returns the writer below, for http.ResponseController (deadlines,
// full duplex; Flush and Hijack stop at this writer).
func (tw *timeoutWriter) Unwrap() http.ResponseWriter { return tw.w }
