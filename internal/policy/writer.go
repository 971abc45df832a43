package policy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
)

// statusWriter records the status code and body bytes of a response for
// Recover, Metrics and AccessLog. Adjacent middlewares share one: when the
// writer they receive is already a *statusWriter they use it instead of
// wrapping again.
//
// It keeps http.Flusher, http.Hijacker and io.ReaderFrom, and Unwrap lets
// http.ResponseController reach the writer below (deadlines, full duplex).
// Values are pooled: a *statusWriter is valid from acquireStatusWriter until
// the middleware that acquired it calls release, which happens when its
// ServeHTTP returns; handlers must not keep it (net/http's rule for any
// ResponseWriter).
type statusWriter struct {
	http.ResponseWriter
	code     int   // 0 until the header is written
	bytes    int64 // body bytes written
	hijacked bool
	route    string // set by Labeled, read by Metrics and AccessLog
	start    mono   // when the outermost of them saw the request; 0 unset
}

// findStatusWriter returns the first *statusWriter in w's Unwrap chain, or nil.
func findStatusWriter(w http.ResponseWriter) *statusWriter {
	for range 16 { // a bound, in case of a cycle
		switch x := w.(type) {
		case *statusWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

var statusWriterPool = sync.Pool{New: func() any { return new(statusWriter) }}

// acquireStatusWriter returns w itself when it is already a *statusWriter
// (owned reports false: the caller must not release it), else a pooled wrapper.
func acquireStatusWriter(w http.ResponseWriter) (sw *statusWriter, owned bool) {
	if sw, ok := w.(*statusWriter); ok {
		return sw, false
	}
	sw = statusWriterPool.Get().(*statusWriter)
	sw.ResponseWriter = w
	return sw, true
}

func (w *statusWriter) release() {
	*w = statusWriter{}
	statusWriterPool.Put(w)
}

// written reports whether the status line has been sent (or the connection
// taken over), after which no error response can be written.
func (w *statusWriter) written() bool { return w.code != 0 || w.hijacked }

// status is the code the client got: 200 when the handler wrote nothing, as
// net/http then sends 200.
func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the sendfile/splice path of the writer below (io.Copy to a
// net/http ResponseWriter uses it).
func (w *statusWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.bytes += n
	return n, err
}

// writerOnly hides every method but Write, so io.Copy cannot recurse into ReadFrom.
type writerOnly struct{ io.Writer }

// Flush implements http.Flusher; flushing commits a 200 if nothing was written.
func (w *statusWriter) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls; it returns the
// error of the writer below, or http.ErrNotSupported.
func (w *statusWriter) FlushError() error {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker when the writer below supports it.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap returns the writer below, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
