// Package policy is hotpath's request policy, shared by every engine: the
// default chain's order (Order) and its pieces built from one Config (Build),
// the middlewares' engine-neutral cores, and their net/http adapters. Package
// middleware is its public face for net/http users; the engines use this
// package directly.
//
// Every middleware is split in two: an engine-neutral core (a type or func
// that takes plain strings, []byte, time.Time and ints, and no net/http types)
// and a thin net/http adapter with the signature func(http.Handler)
// http.Handler. The fasthttp engine calls the cores from its own per-request
// code; each core's doc comment says how.
//
// The adapters are built for the hot path: RequestID and Timeout share one
// per-request state object that is at once the request's context and its
// shallow copy; Recover, Metrics and AccessLog share one pooled status
// recorder; timeouts fire from a queue instead of a timer per request; metric
// children are cached. The default chain (Recover, RequestID, Metrics,
// Timeout) costs one allocation per request. See README.md for the measured
// figures.
package policy

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
