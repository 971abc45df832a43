package nbioengine

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Why every response is buffered and sent with a Content-Length.
//
// nbio (v1.6.8) chunks every HTTP/1.1 response whose handler set no
// Content-Length, and its chunked writer (Response.writeChunk), once a
// response passes 64 KiB, frees its pooled buffer, then keeps appending to
// it (and frees it again when the append must grow it): the buffer is in
// another request's hands meanwhile, or in two at once, so one
// connection's response is sent with another connection's bytes (request
// bodies included; nbio's body reader takes its buffers from the same
// pool). Measured with the conformance case "concurrent large-body echo"
// (24 clients, 300 KB bodies) and TestPipelinedEchoOwnBytes before this
// writer: whole foreign bodies, 500s and resets in every run. nbio's
// Content-Length path copies what it keeps (into its own buffer or the
// connection's write queue) and frees each buffer once, so this engine only
// ever uses that path: nbio never chunks a response.

// bodyWriter is the http.ResponseWriter the handler chain gets. It buffers
// the body and, when finish runs (after the handler returned), hands nbio's
// Response the status, a Content-Length and the whole body in one Write.
// HEAD bodies are counted, not kept. A handler that set a valid
// Content-Length itself and calls Flush streams through nbio's
// Content-Length path from then on; Flush without one (HTTP/1.1 only)
// streams chunks this writer frames itself, on the connection nbio hands
// over (Hijack), so nbio's chunked writer still never runs. Trailers and a
// handler's own Transfer-Encoding are dropped (either would make nbio chunk).
// 1xx informational responses are not sent (nbio would keep the 1xx as the
// final status). Not safe for concurrent use, like any ResponseWriter.
type bodyWriter struct {
	res      http.ResponseWriter // nbio's *nbhttp.Response
	buf      []byte              // *bufp's array, grown; valid until putBuf
	bufp     *[]byte             // from bufPool
	n        int                 // body bytes written, HEAD included
	status   int
	head     bool // HEAD: count the body, keep nothing
	sent     bool // nbio has the status (streaming, finished or hijacked)
	finished bool
	http11   bool     // the request is HTTP/1.1: chunks may be streamed
	close    bool     // the response closes the connection (say so when streaming)
	chunks   net.Conn // streaming chunks of its own on this connection; nil if not
	// writeTimeout bounds how long a streamed chunk may wait unsent: nbio's
	// writes never block, so this is what stops a client that does not
	// read from making a streaming handler queue without end.
	writeTimeout time.Duration
}

// bufPool holds response body buffers. A buffer goes back only after nbio
// copied it (finish returned) and only while small, so that a burst of large
// responses does not pin its memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

const maxPooledBuf = 64 << 10

func newBodyWriter(res http.ResponseWriter, head bool) *bodyWriter {
	w := &bodyWriter{}
	w.init(res, head)
	return w
}

// init readies a zero bodyWriter (one embedded in a per-request struct).
func (w *bodyWriter) init(res http.ResponseWriter, head bool) { w.res, w.head = res, head }

// Header is nbio's header map until finish; after it, a map of its own
// (nbio's Response goes back to nbio's pool, to serve another request).
func (w *bodyWriter) Header() http.Header {
	if w.res == nil {
		return http.Header{}
	}
	return w.res.Header()
}

// WriteHeader records the status; the first final one (>= 200) counts.
func (w *bodyWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("hotpath: invalid WriteHeader code " + strconv.Itoa(code)) // as net/http
	}
	if w.status != 0 || w.sent || code < 200 {
		return
	}
	w.status = code
}

func (w *bodyWriter) Write(p []byte) (int, error) {
	if w.finished {
		return 0, http.ErrHandlerTimeout
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.sent {
		if w.head {
			w.n += len(p)
			return len(p), nil
		}
		if w.chunks != nil {
			return w.writeChunk(p)
		}
		return w.res.Write(p)
	}
	w.n += len(p)
	if w.head {
		return len(p), nil
	}
	if w.buf == nil {
		w.getBuf()
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *bodyWriter) WriteString(s string) (int, error) {
	if w.sent || w.head || w.finished {
		return w.Write([]byte(s))
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.n += len(s)
	if w.buf == nil {
		w.getBuf()
	}
	w.buf = append(w.buf, s...)
	return len(s), nil
}

// Flush sends what is buffered when the handler declared a valid
// Content-Length, and from then on every Write goes to nbio at once.
// Without one it does nothing (see the type's comment).
func (w *bodyWriter) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (w *bodyWriter) FlushError() error {
	if w.finished {
		return http.ErrHandlerTimeout
	}
	if !w.sent {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		cl, ok := declaredLength(w.res.Header())
		switch {
		case ok && bodyAllowed(w.status) && int64(w.n) <= cl:
			w.send()
		case !ok && bodyAllowed(w.status) && w.http11 && !w.head:
			return w.startChunks()
		default:
			return nil // sent when the handler returns
		}
	}
	if w.chunks != nil {
		return nil // chunks go out as they are written
	}
	if f, ok := w.res.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// Hijack hands over nbio's connection; nothing buffered is sent.
func (w *bodyWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.res.(http.Hijacker)
	if !ok || w.sent || w.finished {
		return nil, nil, http.ErrNotSupported
	}
	c, rw, err := hj.Hijack()
	if err == nil {
		w.sent = true
	}
	return c, rw, err
}

// Unwrap gives http.ResponseController the writer below (deadlines).
func (w *bodyWriter) Unwrap() http.ResponseWriter { return w.res }

// send gives nbio the status, the framing headers and the buffered body.
func (w *bodyWriter) send() {
	w.sent = true
	h := w.res.Header()
	delete(h, "Transfer-Encoding")
	delete(h, "Trailer")
	if bodyAllowed(w.status) {
		cl, ok := declaredLength(h)
		if !ok || cl < int64(w.n) || (!w.head && cl > int64(w.n) && w.finished) {
			// No length, or a wrong one: state the true length. (A
			// handler that declared more and returned would leave the
			// client waiting for bytes that never come.)
			h["Content-Length"] = []string{strconv.Itoa(w.n)}
		}
	} else {
		delete(h, "Content-Length")
	}
	w.res.WriteHeader(w.status)
	if len(w.buf) > 0 {
		_, _ = w.res.Write(w.buf) // a failed write closes the connection in nbio
	}
	w.putBuf()
}

// finish sends the response if the handler has not (nbio then writes it out
// when the handler job ends). It must run before nbio's own flush, that is
// before the handler passed to nbio returns, and only once.
func (w *bodyWriter) finish() {
	if w.finished {
		return
	}
	w.finished = true
	if !w.sent {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		w.send()
	}
	if w.chunks != nil {
		_, _ = w.chunks.Write(lastChunk) // a failed write closes the connection in nbio
		w.chunks = nil
	}
	w.putBuf()
	// Whatever still holds this writer (a handler's stray goroutine) must
	// not reach the Response nbio reuses for another request.
	w.res = nil
}

func (w *bodyWriter) getBuf() {
	w.bufp = bufPool.Get().(*[]byte)
	w.buf = (*w.bufp)[:0]
}

// startChunks takes the connection over from nbio (its Response then sends
// nothing) and sends the head with Transfer-Encoding: chunked and what is
// buffered as the first chunk.
func (w *bodyWriter) startChunks() error {
	hj, ok := w.res.(http.Hijacker)
	if !ok {
		return nil
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return nil // sent when the handler returns
	}
	w.sent, w.chunks = true, c
	h := w.res.Header()
	delete(h, "Content-Length")
	delete(h, "Trailer")
	h["Transfer-Encoding"] = []string{"chunked"}
	if len(h["Content-Type"]) == 0 {
		h["Content-Type"] = []string{"text/plain; charset=utf-8"} // as nbio does
	}
	if len(h["Date"]) == 0 {
		h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	}
	if w.close {
		h["Connection"] = []string{"close"}
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(w.status) + " " + http.StatusText(w.status) + "\r\n")
	if err := h.Write(&b); err != nil {
		return err
	}
	b.WriteString("\r\n")
	if len(w.buf) > 0 {
		appendChunk(&b, w.buf)
	}
	w.putBuf()
	_, err = c.Write(b.Bytes())
	return err
}

// writeChunk sends p as one chunk.
func (w *bodyWriter) writeChunk(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var b bytes.Buffer
	b.Grow(len(p) + 20)
	appendChunk(&b, p)
	if _, err := w.chunks.Write(b.Bytes()); err != nil {
		return 0, err
	}
	w.n += len(p)
	rearmWriteDeadline(w.chunks, w.writeTimeout)
	return len(p), nil
}

func appendChunk(b *bytes.Buffer, p []byte) {
	b.WriteString(strconv.FormatInt(int64(len(p)), 16))
	b.WriteString("\r\n")
	b.Write(p)
	b.WriteString("\r\n")
}

func (w *bodyWriter) putBuf() {
	if w.bufp != nil && cap(w.buf) <= maxPooledBuf {
		*w.bufp = w.buf[:0] // the pointer goes back, so Put allocates nothing
		bufPool.Put(w.bufp)
	}
	w.buf, w.bufp = nil, nil
}

// declaredLength is the handler's Content-Length, if it set a valid one.
func declaredLength(h http.Header) (int64, bool) {
	v := h["Content-Length"]
	if len(v) != 1 {
		return 0, false
	}
	n, err := strconv.ParseUint(v[0], 10, 63)
	return int64(n), err == nil
}

// bodyAllowed reports whether a response with this status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
