// Package middleware is hotpath's HTTP middleware for net/http handlers:
// panic recovery, request IDs, per-request timeouts, CORS, bearer auth,
// per-client rate limiting, load shedding, body limits, a buffered access log
// and Prometheus metrics, each a func(http.Handler) http.Handler composed
// with Chain, built by one constructor.
//
// They are the policies every hotpath engine applies (server.New puts them in
// front of its routes, in the order docs/serve.md explains); a net/http user
// can put the same ones in front of any handler, with chi or a ServeMux. The
// implementation, shared with the fasthttp engine, lives in the module's
// internal/policy package; its README gives the measured costs (the default
// chain Recover, RequestID, Metrics, Timeout costs one allocation per
// request).
//
// Constructors that take a configuration validate it and return an error
// naming the bad field; the others cannot fail.
package middleware

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/internal/policy"
)

// Middleware wraps a handler with extra behaviour. It is the shape used by
// net/http, chi and most Go routers.
type Middleware = func(http.Handler) http.Handler

// Chain composes middlewares so that Chain(a, b, c)(h) == a(b(c(h))): the
// first one sees the request first and the response last. Nil entries are
// skipped; Chain() returns the identity. The slice is copied, so the caller may
// reuse it.
func Chain(ms ...Middleware) Middleware { return policy.Chain(ms...) }

// Recover turns a panic below it into a 500 when nothing was written yet
// (else it aborts the response with http.ErrAbortHandler, so the client sees
// a broken response, not a truncated one), logs it once with its stack on log
// (nil: not logged) and lets the server go on. A panic with
// http.ErrAbortHandler is re-panicked untouched. Put it first in the chain.
func Recover(log *slog.Logger) Middleware { return policy.Recover(log) }

// RequestIDHeader carries the request ID on requests and responses.
const RequestIDHeader = policy.RequestIDHeader

// RequestID keeps a valid incoming X-Request-ID (1 to 128 printable ASCII
// characters without space) or generates one, sets it on the response and
// puts it in the request's context for RequestIDFrom.
func RequestID() Middleware { return policy.RequestID() }

// RequestIDFrom returns the request ID set by RequestID on ctx or on a
// context derived from it, or "" when there is none.
func RequestIDFrom(ctx context.Context) string { return policy.RequestIDFrom(ctx) }

// Timeout gives each request a context deadline d after it arrived. At the
// deadline a handler that has not started its response has its client
// answered 503 "request timed out" at once, and its later writes fail with
// http.ErrHandlerTimeout; the handler itself runs until it returns (it should
// watch its context). d <= 0 returns a no-op middleware.
func Timeout(d time.Duration) Middleware { return policy.Timeout(d) }

// MaxBytes answers 413 at once to a request whose declared Content-Length is
// over n; other bodies are wrapped in http.MaxBytesReader, so a read past n
// fails with *http.MaxBytesError (answer it with 413). n <= 0 returns a no-op
// middleware.
func MaxBytes(n int64) Middleware { return policy.MaxBytes(n) }

// Shed answers 503 with Retry-After: 1 at once, without queueing, when
// maxInFlight requests are already being served by the handlers it wraps.
// maxInFlight <= 0 returns a no-op middleware.
func Shed(maxInFlight int) Middleware { return policy.Shed(maxInFlight) }

// Auth lets a request through only with an "Authorization: Bearer <token>"
// header carrying one of tokens (compared in constant time); otherwise it
// answers 401 with WWW-Authenticate: Bearer realm="<realm>" (plus
// error="invalid_token" when a wrong token was sent). It returns an error
// when tokens is empty, a token is empty or not an RFC 6750 token, or realm
// holds a control character.
func Auth(tokens []string, realm string) (Middleware, error) {
	a, err := policy.NewBearerAuth(tokens, realm)
	if err != nil {
		return nil, err
	}
	return a.Middleware, nil
}

// CORSConfig configures CORS. Its fields and their defaults:
//
//   - AllowedOrigins []string: origins ("https://app.example.com") allowed to
//     read responses, compared case-insensitively; "*" allows any. Empty: none.
//   - AllowedMethods []string: answered to a preflight. Empty: GET, HEAD, POST.
//   - AllowedHeaders []string: request headers a preflight may ask for; "*"
//     allows any. Empty: Content-Type, Authorization, X-Request-ID.
//   - ExposedHeaders []string: response headers scripts may read. Empty:
//     X-Request-ID.
//   - AllowCredentials bool: sends Access-Control-Allow-Credentials: true;
//     not with the "*" origin.
//   - MaxAge time.Duration: how long a browser may cache a preflight. Zero:
//     10 minutes; negative is an error.
type CORSConfig = policy.CORSConfig

// CORS applies cfg: a preflight from an allowed origin asking for allowed
// methods and headers gets 204 with the Access-Control-Allow-* headers, any
// other preflight 204 without them; other requests from an allowed origin get
// Access-Control-Allow-Origin (and Vary, credentials, expose headers) and go
// on to the handler, requests from other origins go on untouched. It returns
// an error for an invalid cfg.
func CORS(cfg CORSConfig) (Middleware, error) {
	p, err := policy.NewCORSPolicy(cfg)
	if err != nil {
		return nil, err
	}
	return p.Middleware, nil
}

// RateLimitConfig configures RateLimit's per-client token buckets. Its
// fields and their defaults:
//
//   - Rate float64: sustained requests per second per client. Zero: 100;
//     negative, NaN or infinite is an error.
//   - Burst int: requests a client may make at once after being idle. Zero:
//     Rate rounded up (at least 1); negative is an error.
//   - MaxClients int: clients tracked; beyond it the least recently seen one
//     is forgotten (and starts again with a full bucket). Zero: 100,000
//     (about 15 MB); negative is an error.
//   - TrustedHeader string: a header set by a proxy in front
//     ("X-Forwarded-For", "X-Real-IP") carrying the client address; for
//     X-Forwarded-For the rightmost valid entry. Empty: the peer address.
//     Set it only when every request comes through such a proxy.
//   - IPv6Prefix int: the prefix length that identifies one IPv6 client.
//     Zero: 64; outside 0..128 is an error.
type RateLimitConfig = policy.RateLimitConfig

// RateLimit limits each client with a token bucket and answers 429 with
// Retry-After (whole seconds, rounded up) when its bucket is empty, without
// calling the handler. It returns an error for an invalid cfg.
func RateLimit(cfg RateLimitConfig) (Middleware, error) {
	l, err := policy.NewRateLimiter(cfg)
	if err != nil {
		return nil, err
	}
	return l.Middleware, nil
}

// AccessLogConfig configures AccessLog. Its fields and their defaults:
//
//   - Out io.Writer: receives the lines, from one goroutine at a time; never
//     closed by the logger. Nil: os.Stderr.
//   - JSON bool: slog.JSONHandler lines instead of slog.TextHandler's text.
//   - Sample int: log one request in Sample (0 or 1: all); status >= 500 is
//     always logged. Negative is an error.
//   - BufferSize int: the write buffer in bytes. Zero: 64 KiB.
//   - FlushInterval time.Duration: how often buffered lines are written (and
//     the longest they wait). Zero: 1s.
type AccessLogConfig = policy.AccessLogConfig

// AccessLog logs each request (method, path without query, route, status,
// bytes, duration, remote address, request ID, user agent) and returns the
// io.Closer that flushes the log and stops its goroutine: close it after the
// server has stopped. It returns an error for an invalid cfg, and then starts
// nothing.
func AccessLog(cfg AccessLogConfig) (Middleware, io.Closer, error) {
	l, err := policy.NewAccessLogger(cfg)
	if err != nil {
		return nil, nil, err
	}
	return l.Middleware, l, nil
}

// Metric names, the same on every engine (dashboards depend on them):
//
//	hotpath_http_requests_total{route,method,code}       counter
//	hotpath_http_request_duration_seconds{route,method}  histogram, 100µs to 10s
//	hotpath_http_requests_in_flight                      gauge
//	hotpath_http_response_bytes_total{route,method}      counter
//
// route is the pattern given to Labeled, UnmatchedRoute without one; method
// is the method's name for the nine of RFC 9110 and PATCH, else "other".
const (
	MetricRequests      = policy.MetricRequests
	MetricDuration      = policy.MetricDuration
	MetricInFlight      = policy.MetricInFlight
	MetricResponseBytes = policy.MetricResponseBytes
	UnmatchedRoute      = policy.UnmatchedRoute
)

// Metrics records every request in the four metrics above, registered with
// reg (nil: prometheus.DefaultRegisterer): in flight while it runs, then
// count, latency and body bytes. A handler that panics counts as 500 when it
// had not written a status. It returns an error wrapping the registry's when
// one of the metrics is already registered.
func Metrics(reg prometheus.Registerer) (Middleware, error) {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	m, err := policy.NewHTTPMetrics(reg)
	if err != nil {
		return nil, err
	}
	return policy.Metrics(m), nil
}

// Labeled wraps h so that Metrics and AccessLog label its requests with route,
// a registered pattern such as "/users/{id}" (never the raw path, so label
// cardinality stays bounded). Writer wrappers between them and h must
// implement Unwrap, as http.ResponseController also requires.
func Labeled(route string, h http.Handler) http.Handler { return policy.Labeled(route, h) }
