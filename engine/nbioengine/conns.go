package nbioengine

import (
	"context"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/lesismal/nbio"
	"golang.org/x/net/http/httpguts"
)

// connTable tracks nbio's connections by remote address (the key nbio puts
// in Request.RemoteAddr) and the requests running on each, so that closing a
// connection cancels its requests' contexts and a shutdown can tell idle
// connections from busy ones. nbio has no per-request cancellation and its
// Shutdown closes busy connections, hence this table.
type connTable struct {
	mu       sync.Mutex
	conns    map[string]*connEntry
	inFlight int
	draining bool
}

type connEntry struct {
	c      net.Conn   // nil if the request was seen before OnOpen
	st     *connState // nil likewise
	active []*running
	// closing is set once a response said Connection: close: requests
	// pipelined behind it are not run (net/http stops reading there too).
	closing bool
}

// running is one request in progress, and its response writer (one
// allocation for both).
type running struct {
	cancel context.CancelFunc
	bw     bodyWriter
}

func newConnTable() *connTable { return &connTable{conns: map[string]*connEntry{}} }

// open is nbio's OnOpen. It runs on nbio's accept goroutine just before the
// connection is handed to a poller goroutine, through epoll, which the race
// detector cannot see; locking the connection's mutex here (the poller locks
// it before each read) makes that hand-over visible, so -race does not report
// nbio's accept-time writes as racing with the poller's reads.
func (t *connTable) open(c net.Conn, st *connState) {
	if l, ok := c.(sync.Locker); ok {
		l.Lock()
		l.Unlock() //nolint:staticcheck // an empty critical section is the point
	}
	key := c.RemoteAddr().String()
	t.mu.Lock()
	if e := t.conns[key]; e != nil {
		e.c, e.st = c, st
	} else {
		t.conns[key] = &connEntry{c: c, st: st}
	}
	t.mu.Unlock()
}

// close is nbio's OnClose: the requests still running on c are cancelled.
func (t *connTable) close(c net.Conn) {
	key := c.RemoteAddr().String()
	t.mu.Lock()
	e := t.conns[key]
	delete(t.conns, key)
	t.mu.Unlock()
	if e != nil {
		for _, r := range e.active {
			r.cancel()
		}
	}
}

// begin records a request on the connection key and reports whether the
// server is draining and whether an earlier response on the connection said
// Connection: close.
func (t *connTable) begin(key string, r *running) (e *connEntry, draining, closing bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e = t.conns[key]
	if e == nil {
		e = &connEntry{}
		t.conns[key] = e
	}
	e.active = append(e.active, r)
	t.inFlight++
	return e, t.draining, e.closing
}

// closeAfter marks e as closing and returns its nbio connection, or nil if
// OnOpen has not recorded it (then nbio's own close must do).
func (t *connTable) closeAfter(e *connEntry) *nbio.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.closing = true
	nc, _ := e.c.(*nbio.Conn)
	return nc
}

// end removes a request recorded by begin and reports whether it was the
// connection's last one in flight.
func (t *connTable) end(e *connEntry, r *running) bool {
	t.mu.Lock()
	for i, x := range e.active {
		if x == r {
			e.active = append(e.active[:i], e.active[i+1:]...)
			break
		}
	}
	t.inFlight--
	last := len(e.active) == 0
	t.mu.Unlock()
	return last
}

// closedChecker is what *nbio.Conn offers to tell a closed connection.
type closedChecker interface{ IsClosed() (bool, error) }

// cancelClosed cancels the requests of connections nbio has closed. nbio
// reports a close (OnClose) on the connection's own executor, which is busy
// running the very handler that should stop, so the close is noticed here
// instead, by polling the connections that have requests in flight.
func (t *connTable) cancelClosed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inFlight == 0 {
		return
	}
	for _, e := range t.conns {
		if len(e.active) == 0 || e.c == nil {
			continue
		}
		if cc, ok := e.c.(closedChecker); ok {
			if closed, _ := cc.IsClosed(); closed {
				for _, r := range e.active {
					r.cancel()
				}
			}
		}
	}
}

// watch runs cancelClosed every interval until stop is closed.
func (t *connTable) watch(interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			t.cancelClosed()
		}
	}
}

// cutAll ends every request still in flight at the end of the shutdown
// timeout: it closes their connections first, so that a handler returning
// on its cancelled context cannot get an answer (nbio would send a 200 for
// a handler that wrote nothing) to a client that must see the request as
// failed, then cancels their contexts.
// Close runs outside t.mu: nbio may call OnClose (and so close) from it.
func (t *connTable) cutAll() {
	var conns []net.Conn
	var runs []*running
	t.mu.Lock()
	for _, e := range t.conns {
		if len(e.active) == 0 {
			continue
		}
		if e.c != nil {
			conns = append(conns, e.c)
		}
		runs = append(runs, e.active...)
	}
	t.mu.Unlock()
	for _, c := range conns {
		closeFromOutside(c)
	}
	for _, r := range runs {
		r.cancel()
	}
}

func (t *connTable) setDraining() {
	t.mu.Lock()
	t.draining = true
	t.mu.Unlock()
}

// drain closes idle connections until no request is in flight or ctx ends,
// like net/http's Server.Shutdown. A connection is idle once nbio holds
// none of its answers unsent either (see unsent): a response its handler
// finished is still in flight until the client has it, as on net/http,
// whose handler goroutine writes it out before the connection counts as
// idle. Until 2026-12-07 such a connection was closed at once, cutting a
// large answer to a slow reader short while serve exited 0.
func (t *connTable) drain(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var idle []net.Conn
		t.mu.Lock()
		for _, e := range t.conns {
			if len(e.active) == 0 && e.c != nil {
				idle = append(idle, e.c)
			}
		}
		n := t.inFlight
		t.mu.Unlock()
		for _, c := range idle {
			if unsent(c) {
				n++
				continue
			}
			closeFromOutside(c)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// wrap adds to the net/http handler what nbio lacks: a request context that
// ends when the client disconnects (or at a hard stop), Connection: close
// while draining, 413 and a close for bodies the framer refused, HEAD
// responses without a body, and responses that nbio never chunks
// (bodyWriter). (Requests the framer refused whole, 431 included, never
// reach it.)
func (s *transport) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A parent that is never cancelled keeps WithCancel from registering
		// each request with it; a hard stop cancels through the table.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		run := &running{cancel: cancel}
		e, draining, closing := s.conns.begin(r.RemoteAddr, run)
		defer func() {
			// After the response (the deferred finish below ran first):
			// the last request in flight starts the idle timeout.
			if last := s.conns.end(e, run); last && e.st != nil {
				e.st.idle(&s.states, time.Now())
			}
		}()
		bw := &run.bw
		bw.init(w, r.Method == http.MethodHead)
		bw.http11, bw.writeTimeout = r.ProtoAtLeast(1, 1), s.cfg.WriteTimeout
		var note bodyNote
		var noted bool
		if e.st != nil {
			note, noted = e.st.begin() // counts every request, even one not run
		}
		if closing {
			// Pipelined behind a response that closed the connection (and
			// parsed with it, so queued before that response's close):
			// nothing more may be sent and the handler must not run.
			// Shutting the socket for writing now makes nbio's empty
			// answer to this request fail instead of reaching the client.
			if nc := s.conns.closeAfter(e); nc != nil {
				lingeringClose(nc)
			}
			bw.finish()
			return
		}
		if draining {
			r.Close = true
		}
		rc := r.WithContext(ctx)
		switch {
		case noted && note.refused:
			// The framer refused this request's body (framer.go): nbio got
			// the head only. The chain answers 413 as for any body over
			// the limit (MaxBytes, before reading, from the declared
			// length; or on read), then the connection closes: the rest of
			// the body is never read.
			r.Close = true
			rc.ContentLength = note.declared
			rc.Body = tooLargeBody{limit: s.cfg.MaxBodyBytes}
		case noted:
			// The body had a Content-Length, and nbio got it as chunks:
			// the handler sees the request as the client sent it.
			rc.ContentLength = note.declared
			rc.TransferEncoding = nil
			delete(rc.Header, "Transfer-Encoding")
			rc.Header["Content-Length"] = []string{strconv.FormatInt(note.declared, 10)}
		}
		// The response goes to nbio when the handler returns (or panics
		// past the chain's Recover). A response that closes the connection
		// (the client asked, the server drains, or a refused body) is followed
		// by a lingering close that nbio's poller completes, instead of
		// nbio's Close on this goroutine (see closing.go). r is the request
		// nbio reads after the handler; the handler chain gets a copy.
		defer func() {
			// A handler may close the connection by its response header too
			// (the chain's CloseAfterChunked does, after a chunked request):
			// as net/http, the connection then ends after this response, and
			// nothing pipelined behind it is answered.
			if r.Close || httpguts.HeaderValuesContainsToken(w.Header()["Connection"], "close") {
				r.Close = true
				if nc := s.conns.closeAfter(e); nc != nil {
					r.Close = false
					w.Header()["Connection"] = []string{"close"}
					nc.Execute(func() { lingeringClose(nc) }) // after this job's response
				}
			}
			bw.finish()
			if bw.n >= splitWrite {
				rearmWriteDeadline(e.c, s.cfg.WriteTimeout)
			}
		}()
		bw.close = r.Close // a streamed response's head says so itself
		next.ServeHTTP(bw, rc)
	})
}

// splitWrite is the body size from which nbio writes a response in two
// (head, then body; its maxPacketSize is 64 KiB), with margin.
const splitWrite = 32 << 10

// rearmWriteDeadline sets c's write deadline again after a large response
// was handed to nbio, and clears it if nothing is left to send. nbio arms
// the write deadline when a request arrives and clears it whenever one
// write completes; a large response's head completes alone, so without
// this a client that never reads kept the body queued with no deadline.
// (Write with no bytes is nbio's "clear the deadline if the queue is
// empty".) If the queue empties later, the deadline still fires, closing
// an idle connection early: nbio's own rule for any response that did not
// go out in one write.
func rearmWriteDeadline(c net.Conn, d time.Duration) {
	nc, ok := c.(*nbio.Conn)
	if !ok || d <= 0 {
		return
	}
	_ = nc.SetWriteDeadline(time.Now().Add(d))
	_, _ = nc.Write(nil)
}

// tooLargeBody is the body of a request whose body the framer refused:
// reading it fails as http.MaxBytesReader does past the limit.
type tooLargeBody struct{ limit int64 }

func (b tooLargeBody) Read([]byte) (int, error) { return 0, &http.MaxBytesError{Limit: b.limit} }
func (tooLargeBody) Close() error               { return nil }

// writeListField is nbio.Conn's unexported queue of bytes the socket has
// not taken yet (nbio v1.6.8). nbio has no API that tells whether a
// connection still has unsent bytes, which a graceful shutdown must know;
// reading the queue's length through reflect, under the connection's own
// lock (Conn.Lock is the mutex nbio guards it with), is the least
// intrusive way. TestShutdownDeliversUnsentResponse fails if an nbio upgrade
// moves it.
var writeListField, hasWriteList = reflect.TypeFor[nbio.Conn]().FieldByName("writeList")

// unsent reports whether nbio still holds bytes of c's answers that the
// socket has not taken (false for a closed connection, or one that is not
// nbio's).
func unsent(c net.Conn) bool {
	nc, ok := c.(*nbio.Conn)
	if !ok || !hasWriteList {
		return false
	}
	nc.Lock()
	defer nc.Unlock()
	if closed, _ := nc.IsClosed(); closed {
		return false
	}
	return reflect.ValueOf(nc).Elem().FieldByIndex(writeListField.Index).Len() > 0
}
