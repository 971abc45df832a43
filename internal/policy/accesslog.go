package policy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// AccessLogConfig configures the access log. The zero value writes every
// request as log/slog text to os.Stderr through a 64 KiB buffer flushed every
// second.
type AccessLogConfig struct {
	// Out receives the log lines. Nil: os.Stderr. It is written from one
	// goroutine at a time and never closed by the logger.
	Out io.Writer
	// JSON selects slog.JSONHandler output; false (the default) is
	// slog.TextHandler's key=value text.
	JSON bool
	// Sample logs one request in Sample; 0 or 1 logs all. Responses with a
	// status >= 500 are always logged. Negative is an error.
	Sample int
	// BufferSize is the write buffer in bytes. Zero: 64 KiB. Negative is an
	// error.
	BufferSize int
	// FlushInterval is how often buffered lines are written out (and the
	// longest they wait). Zero: 1s. Negative is an error.
	FlushInterval time.Duration
}

// AccessEntry is one request as the access log records it; engine-neutral.
type AccessEntry struct {
	Method     string
	Path       string // URL path without the query (queries may hold secrets)
	Route      string // the Labeled route, "" for UnmatchedRoute
	Status     int
	Bytes      int64 // response body bytes
	Duration   time.Duration
	RemoteAddr string
	RequestID  string
	TraceID    string // 32 hex digits; "" when tracing is off (not logged then)
	UserAgent  string
}

// AccessLogger is the engine-neutral core of AccessLog: sampling plus a
// buffered slog handler. Safe for concurrent use.
//
// Another engine fills an AccessEntry after the handler returns (status,
// bytes, duration measured around it) and calls Log; it calls Close once when
// the server has stopped.
type AccessLogger struct {
	log *slog.Logger
	out *syncBuffer
	// traceIDs makes Middleware look up the trace ID of each request: set
	// by Build when tracing is on, so the log costs nothing more when off.
	traceIDs bool
	sample   uint64
	n        atomic.Uint64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewAccessLogger validates cfg and starts the flushing goroutine, which runs
// until Close.
func NewAccessLogger(cfg AccessLogConfig) (*AccessLogger, error) {
	switch {
	case cfg.Sample < 0:
		return nil, fmt.Errorf("middleware: access log Sample %d is negative", cfg.Sample)
	case cfg.BufferSize < 0:
		return nil, fmt.Errorf("middleware: access log BufferSize %d is negative", cfg.BufferSize)
	case cfg.FlushInterval < 0:
		return nil, fmt.Errorf("middleware: access log FlushInterval %v is negative", cfg.FlushInterval)
	}
	out := cfg.Out
	if out == nil {
		out = os.Stderr
	}
	size := cfg.BufferSize
	if size == 0 {
		size = 64 << 10
	}
	every := cfg.FlushInterval
	if every == 0 {
		every = time.Second
	}
	l := &AccessLogger{
		out:    &syncBuffer{w: bufio.NewWriterSize(out, size)},
		sample: uint64(max(cfg.Sample, 1)),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if cfg.JSON {
		l.log = slog.New(slog.NewJSONHandler(l.out, nil))
	} else {
		l.log = slog.New(slog.NewTextHandler(l.out, nil))
	}
	go l.flushEvery(every)
	return l, nil
}

func (l *AccessLogger) flushEvery(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			_ = l.out.Flush() // the error is kept and returned by Close
		}
	}
}

// Close stops the flushing goroutine and writes out what is buffered. It
// returns the first write error the logger met. Later calls return the same
// error; entries logged after Close stay in the buffer.
func (l *AccessLogger) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.closeErr = l.out.Flush()
	})
	return l.closeErr
}

// Log records e, subject to sampling: one entry in Sample, plus every entry
// with Status >= 500.
func (l *AccessLogger) Log(e AccessEntry) {
	if l.sample > 1 && e.Status < 500 && l.n.Add(1)%l.sample != 0 {
		return
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	route := e.Route
	if route == "" {
		route = UnmatchedRoute
	}
	attrs := [11]slog.Attr{
		slog.String("method", e.Method),
		slog.String("path", e.Path),
		slog.String("route", route),
		slog.Int("status", e.Status),
		slog.Int64("bytes", e.Bytes),
		slog.Duration("dur", e.Duration),
		slog.String("remote", e.RemoteAddr),
		slog.String("request_id", e.RequestID),
	}
	n := 8
	if e.TraceID != "" {
		attrs[n] = slog.String("trace_id", e.TraceID)
		n++
	}
	attrs[n] = slog.String("user_agent", e.UserAgent)
	l.log.LogAttrs(context.Background(), level, "request", attrs[:n+1]...)
}

// syncBuffer is a bufio.Writer shared by the handler and the flusher.
type syncBuffer struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("middleware: writing access log: %w", err)
	}
	return n, err
}

func (b *syncBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.w.Flush(); err != nil && b.err == nil {
		b.err = fmt.Errorf("middleware: writing access log: %w", err)
	}
	return b.err
}

// AccessLog returns a middleware that logs each request (see AccessEntry and
// AccessLogger) and the io.Closer that flushes the log and stops its
// goroutine; call Close after the server has stopped. It panics with a
// "hotpath:" message when cfg is invalid: check it first with
// NewAccessLogger.
func AccessLog(cfg AccessLogConfig) (Middleware, io.Closer) {
	l, err := NewAccessLogger(cfg)
	if err != nil {
		panic(fmt.Errorf("hotpath: %w", err))
	}
	return l.Middleware, l
}

// Middleware is the net/http adapter of l. A handler that panics is logged
// with status 500 when it had written nothing.
func (l *AccessLogger) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := monoNow()
		sw, owned := acquireStatusWriter(w)
		if sw.start == 0 {
			sw.start = start
		}
		done := false
		defer func() {
			code := sw.status()
			if !done && !sw.written() {
				code = http.StatusInternalServerError
			}
			e := AccessEntry{
				Method:     r.Method,
				Route:      routeOf(sw, r),
				Status:     code,
				Bytes:      sw.bytes,
				Duration:   time.Duration(monoNow() - start),
				RemoteAddr: r.RemoteAddr,
			}
			// RequestID sets the ID on the response header before calling
			// its handler, whichever side of AccessLog it sits.
			if id := w.Header()[requestIDKey]; len(id) > 0 {
				e.RequestID = id[0]
			} else {
				e.RequestID = RequestIDFrom(r.Context())
			}
			if l.traceIDs {
				e.TraceID = TraceIDFrom(r.Context())
			}
			if r.URL != nil {
				e.Path = r.URL.Path
			}
			if ua := r.Header["User-Agent"]; len(ua) > 0 {
				e.UserAgent = ua[0]
			}
			l.Log(e)
			if owned {
				sw.release()
			}
		}()
		next.ServeHTTP(sw, r)
		done = true
	})
}
