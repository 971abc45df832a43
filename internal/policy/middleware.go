// Package middleware is hotpath's HTTP middleware: panic recovery, request
// IDs, per-request timeouts, CORS, bearer auth, per-client rate limiting,
// load shedding, body limits, a buffered access log and Prometheus metrics.
//
// Every middleware is split in two: an engine-neutral core (a type or func
// that takes plain strings, []byte, time.Time and ints, and no net/http types)
// and a thin net/http adapter with the signature func(http.Handler)
// http.Handler. Other engines (fasthttp, nbio) reuse the cores; each core's doc
// comment says how.
//
// The adapters are built for the hot path: RequestID and Timeout share one
// per-request state object that is at once the request's context and its
// shallow copy; Recover, Metrics and AccessLog share one pooled status
// recorder; timeouts fire from a queue instead of a timer per request; metric
// children are cached. The default chain (Recover, RequestID, Metrics,
// Timeout) costs one allocation per request. See README.md for the measured
// figures.
package middleware

import (
	"io"
	"net/http"
)

// Middleware wraps a handler with extra behaviour. It is the shape used by
// net/http, chi and most Go routers.
type Middleware = func(http.Handler) http.Handler

// Chain composes middlewares so that Chain(a, b, c)(h) == a(b(c(h))): the
// first one sees the request first and the response last. Nil entries are
// skipped; Chain() returns the identity. The slice is copied, so the caller may
// reuse it.
func Chain(ms ...Middleware) Middleware {
	list := make([]Middleware, 0, len(ms))
	for _, m := range ms {
		if m != nil {
			list = append(list, m)
		}
	}
	return func(h http.Handler) http.Handler {
		for i := len(list) - 1; i >= 0; i-- {
			h = list[i](h)
		}
		return h
	}
}

// plainError writes a short text/plain error response. The body is a fixed
// string, never data from the request.
func plainError(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body) // nothing useful to do with a failed error write
}

// Shared, read-only header values: assigning them avoids a []string per
// response. Nobody may modify their elements.
var (
	textPlain = []string{"text/plain; charset=utf-8"}
	nosniff   = []string{"nosniff"}
	retryOne  = []string{"1"}
)
