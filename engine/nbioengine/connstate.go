package nbioengine

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
)

// connState is the engine's per-connection state on nbio: the framer that
// reads the client's bytes before nbio's parser (framer.go), the read
// deadline the sweeper enforces, and the requests whose body the framer
// refused.
type connState struct {
	c  *nbio.Conn
	fr framer // poller goroutine only

	t0 int64 // when the current request started, Unix ns; poller only

	// deadline is when the sweeper cuts the connection (Unix ns); 0: never.
	deadline atomic.Int64
	idleAt   atomic.Int64  // the deadline idle set, until a request begins
	served   atomic.Uint64 // requests begun by the handler wrapper
	reading  atomic.Bool   // part of a request has arrived and not all of it
	pending  atomic.Int32  // len(notes), read without the lock

	// Poller goroutine only.
	first bool // the first request has not started: its time counts from the accept
	armed int8 // phase the deadline was set for: -1 none, phaseHead, phaseBody

	mu    sync.Mutex
	notes []bodyNote
}

// bodyNote tells the handler wrapper about request seq's body (counted
// from 1 on its connection): refused (over the limit; declared bytes, or
// -1 for a chunked body), or declared bytes that nbio got as chunks.
type bodyNote struct {
	seq      uint64
	declared int64
	refused  bool
}

// states maps nbio's connections to their state, by file descriptor (as
// nbio itself does): a lookup per read is an atomic load, and a connection
// costs one pointer in the table. open and close hold mu; readers do not.
type states struct {
	mu                             sync.Mutex
	table                          atomic.Pointer[[]atomic.Pointer[connState]] // replaced whole when it grows
	maxHead                        int
	maxBody                        int64
	readHeaderTimeout, readTimeout time.Duration
	idleTimeout                    time.Duration
}

func (ss *states) open(c *nbio.Conn) *connState {
	st := &connState{c: c, fr: framer{maxHead: clampHead(ss.maxHead), maxBody: ss.maxBody}, first: true, t0: time.Now().UnixNano()}
	st.armed = -1
	st.arm(ss, phaseHead)
	fd := c.Hash()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	t := ss.table.Load()
	if t == nil || fd >= len(*t) {
		n := max(1024, 2*fd+1)
		if t != nil {
			n = max(n, 2*len(*t))
		}
		grown := make([]atomic.Pointer[connState], n)
		if t != nil {
			for i := range *t {
				grown[i].Store((*t)[i].Load())
			}
		}
		t = &grown
		ss.table.Store(t)
	}
	(*t)[fd].Store(st)
	return st
}

// close forgets c's state. nbio reports a close after the descriptor may
// already belong to a new connection (which then has its own state here),
// so only c's own state is removed.
func (ss *states) close(c *nbio.Conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if t, fd := ss.table.Load(), c.Hash(); t != nil && fd >= 0 && fd < len(*t) {
		if st := (*t)[fd].Load(); st != nil && st.c == c {
			(*t)[fd].Store(nil)
		}
	}
}

// get is c's state, or nil.
func (ss *states) get(c *nbio.Conn) *connState {
	t, fd := ss.table.Load(), c.Hash()
	if t == nil || fd < 0 || fd >= len(*t) {
		return nil
	}
	if st := (*t)[fd].Load(); st != nil && st.c == c {
		return st
	}
	return nil
}

// arm sets the read deadline for phase: the read-header timeout while a
// request head is read, the read timeout (both from the request's start,
// as net/http) while its body is, none between requests until the
// response is sent (idle arms the idle timeout then).
func (st *connState) arm(ss *states, phase int) {
	if int8(phase) == st.armed {
		return
	}
	st.armed = int8(phase)
	st.reading.Store(phase != -1)
	var d time.Duration
	switch phase {
	case phaseHead:
		d = ss.readHeaderTimeout
	case phaseBody:
		d = ss.readTimeout
	}
	if d <= 0 {
		st.deadline.Store(0)
		return
	}
	st.deadline.Store(st.t0 + int64(d))
}

// onData is nbio's data handler (for every connection, on its poller
// goroutine): the framer decides what nbio's parser gets.
func (s *transport) onData(c *nbio.Conn, data []byte) {
	st := s.states.get(c)
	if st == nil {
		return // not opened through this engine (cannot happen); drop
	}
	fr := &st.fr
	acts := fr.feed(data)
	defer fr.release()
	switch {
	case fr.phase == phaseDead || fr.idle():
		st.arm(&s.states, -1)
	default:
		// A request that started in these bytes times from now; the first
		// one, still in its head, from the accept (as net/http).
		if fr.started && !(st.first && fr.heads == 0) {
			st.t0 = time.Now().UnixNano()
			st.armed = -1
		}
		st.arm(&s.states, int(fr.phase))
	}
	st.first = false
	parse := c.DataHandler()
	for _, a := range acts {
		switch a.kind {
		case actPass:
			parse(c, a.b)
		case actContinue:
			c.Execute(func() { _, _ = c.Write(continue100) })
		case actTooLarge, actLength:
			st.mu.Lock()
			st.notes = append(st.notes, bodyNote{seq: a.seq, declared: a.declared, refused: a.kind == actTooLarge})
			st.pending.Add(1)
			st.mu.Unlock()
		case actReject:
			resp := refusal(a.status)
			c.Execute(func() {
				_, _ = c.Write(resp)
				lingeringClose(c)
			})
		}
	}
}

var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// refusal is the answer to a request the framer refused, in net/http's
// words: the status line's text as a plain-text body, and a close.
func refusal(status int) []byte {
	text := strconv.Itoa(status) + " " + http.StatusText(status)
	return []byte("HTTP/1.1 " + text + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(text)) + "\r\n\r\n" + text)
}

// idle arms the idle timeout after the last response in flight on the
// connection was handed to nbio, unless a next request has begun to arrive
// (its own deadline stands then). Called by the handler wrapper.
func (st *connState) idle(ss *states, now time.Time) {
	if ss.idleTimeout <= 0 || st.reading.Load() {
		return
	}
	if d := now.Add(ss.idleTimeout).UnixNano(); st.deadline.CompareAndSwap(0, d) {
		st.idleAt.Store(d)
	}
}

// begin counts a request the handler wrapper runs on st's connection and
// returns the framer's note about its body, if any.
func (st *connState) begin() (bodyNote, bool) {
	// A request that arrived whole while the one before it ran begins
	// after that one armed the idle timeout: it must not run under it.
	if d := st.idleAt.Swap(0); d != 0 {
		st.deadline.CompareAndSwap(d, 0)
	}
	seq := st.served.Add(1)
	if st.pending.Load() == 0 {
		return bodyNote{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, n := range st.notes {
		if n.seq == seq {
			st.notes = append(st.notes[:i], st.notes[i+1:]...)
			st.pending.Add(-1)
			return n, true
		}
	}
	return bodyNote{}, false
}

// sweepInterval is how often read deadlines are checked: an eighth of the
// shortest timeout, so a timeout fires at most that much late (never
// early), within [5ms, 1s].
func sweepInterval(timeouts ...time.Duration) time.Duration {
	iv := time.Second
	for _, d := range timeouts {
		if d > 0 {
			iv = min(iv, d/8)
		}
	}
	return max(iv, 5*time.Millisecond)
}

// sweep cuts the connections whose read deadline passed by now: one pass
// over the table instead of a timer per connection. Idle connections cost
// one atomic load each.
func (ss *states) sweep(now int64) int {
	n := 0
	t := ss.table.Load()
	if t == nil {
		return 0
	}
	for i := range *t {
		st := (*t)[i].Load()
		if st == nil {
			continue
		}
		if d := st.deadline.Load(); d != 0 && now >= d && st.deadline.CompareAndSwap(d, 0) {
			closeFromOutside(st.c)
			n++
		}
	}
	return n
}

// sweepLoop runs sweep every interval until stop is closed.
func (ss *states) sweepLoop(interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			ss.sweep(now.UnixNano())
		}
	}
}
