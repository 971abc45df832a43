package policy

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// PanicReport logs a recovered panic once, with its stack, at error level.
// method, path and requestID describe the request and may be empty. A nil log
// discards the report.
//
// Engine-neutral core: another engine defers a function that calls recover(),
// re-panics when IsAbortPanic says so, calls PanicReport with debug.Stack(),
// and answers 500 if it has not started the response.
func PanicReport(log *slog.Logger, v any, stack []byte, method, path, requestID string) {
	if log == nil {
		return
	}
	log.LogAttrs(context.Background(), slog.LevelError, "panic serving request",
		slog.Any("panic", v),
		slog.String("method", method),
		slog.String("path", path),
		slog.String("request_id", requestID),
		slog.String("stack", string(stack)),
	)
}

// IsAbortPanic reports whether a recovered value is http.ErrAbortHandler, the
// sentinel a handler panics with to abort a response on purpose; it must be
// re-panicked, not logged.
func IsAbortPanic(v any) bool {
	err, ok := v.(error)
	return ok && err == http.ErrAbortHandler
}

// Recover returns a middleware that turns a panic in the handler into a 500
// (text/plain) when nothing has been written yet, logs the panic value and
// stack once through log (nil: not logged), and lets the server go on
// serving. A panic with http.ErrAbortHandler is re-panicked untouched. When
// the response had already started, a 500 can no longer be sent: Recover then
// panics with http.ErrAbortHandler after logging, so net/http closes the
// connection and the client sees a broken response rather than a truncated
// one that looks complete.
//
// Place it first in the chain so that it also covers the other middlewares.
func Recover(log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw, owned := acquireStatusWriter(w)
			defer func() {
				v := recover()
				if v == nil {
					if owned {
						sw.release()
					}
					return
				}
				if IsAbortPanic(v) {
					panic(v)
				}
				// The ID is read from the response header: RequestID sets it
				// there before calling the handler, and Recover usually runs
				// outside RequestID's state.
				id := ""
				if ids := w.Header()[requestIDKey]; len(ids) > 0 {
					id = ids[0]
				}
				path := ""
				if r.URL != nil {
					path = r.URL.Path
				}
				PanicReport(log, v, debug.Stack(), r.Method, path, id)
				if sw.written() {
					panic(http.ErrAbortHandler)
				}
				h := w.Header()
				for k := range h {
					// The request ID and the trace context (Trace,
					// --trace-response-header) were set before the
					// handler ran, for every response.
					if k != requestIDKey && k != "Traceparent" && k != "Tracestate" {
						delete(h, k)
					}
				}
				plainError(sw, http.StatusInternalServerError, BodyInternal)
				if owned {
					sw.release()
				}
			}()
			next.ServeHTTP(sw, r)
		})
	}
}
