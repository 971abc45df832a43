package server

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/middleware"
	"github.com/hotpath-dev/hotpath/service"
)

// defaultChain builds the public middleware chain from c. The order is set
// here and only here (docs/serve.md explains it); outermost first:
//
//  0. closeAfterChunked: a request framed by Transfer-Encoding closes its
//     connection after the response, whatever answers it (request
//     smuggling; see its comment).
//  1. Recover: outermost of the rest, so a panic anywhere below, middleware included,
//     becomes a 500 and the process keeps serving.
//  2. RequestID: next, so every later layer (logs, errors, panics) and every
//     response, rejected ones included, carries X-Request-ID.
//  3. AccessLog (if on): sees the final status of every request, including
//     those shed, limited or refused below.
//  4. Metrics: counts every answered request, 429s and 503s included, so
//     shedding and limiting are visible on dashboards.
//  5. Shed: the cheapest refusal (one atomic add) comes before anything that
//     costs memory or locks under overload. Never for the probes
//     (/healthz, /readyz): a busy pod must not fail them (exceptProbes).
//  6. RateLimit (if on): per-client buckets; before Auth so token guessing
//     is rate limited too. Never for the probes either.
//  7. CORS (if configured): before Auth, so preflight OPTIONS (which carry no
//     credentials) are answered and 401s carry CORS headers a browser reads.
//  8. Auth (if tokens): only on Config.AuthRoutes.
//  9. Timeout: the deadline covers the handler's work, not the refusals above.
//  10. MaxBytes: innermost, next to the handler that reads the body.
//
// route labels the metrics of requests refused before the router (see
// middleware.MetricsRouted). The returned closers (the access log's
// flusher) must be closed at shutdown.
func defaultChain(c Config, log *slog.Logger, reg prometheus.Registerer, accessOut io.Writer, route func(*http.Request) string) (_ middleware.Middleware, closers []io.Closer, err error) {
	defer func() {
		if err != nil { // stop the access log's flusher on a later failure
			for _, cl := range closers {
				cl.Close()
			}
		}
	}()
	var accessLog middleware.Middleware
	if c.AccessLog {
		var l *middleware.AccessLogger
		l, err = middleware.NewAccessLogger(middleware.AccessLogConfig{
			Out:    accessOut,
			JSON:   c.AccessLogFormat == "json",
			Sample: c.AccessLogSample,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: access-log: %w", ErrInvalidConfig, err)
		}
		accessLog = l.Middleware
		closers = append(closers, l)
	}
	metrics, err := middleware.NewHTTPMetrics(reg)
	if err != nil {
		return nil, closers, fmt.Errorf("register HTTP metrics: %w", err)
	}
	var rateLimit middleware.Middleware
	if c.RateLimit > 0 {
		rc := middleware.RateLimitConfig{Rate: c.RateLimit, Burst: c.RateBurst}
		if err := rc.Validate(); err != nil {
			return nil, closers, fmt.Errorf("%w: rate-limit: %w", ErrInvalidConfig, err)
		}
		rateLimit = middleware.RateLimit(rc)
	}
	var cors middleware.Middleware
	if len(c.CORSOrigins) > 0 {
		p, err := middleware.NewCORSPolicy(middleware.CORSConfig{AllowedOrigins: c.CORSOrigins})
		if err != nil {
			return nil, closers, fmt.Errorf("%w: cors-origins: %w", ErrInvalidConfig, err)
		}
		cors = p.Middleware
	}
	var auth middleware.Middleware
	if len(c.AuthTokens) > 0 {
		a, err := middleware.NewBearerAuth(c.AuthTokens, DefaultRealm)
		if err != nil {
			return nil, closers, fmt.Errorf("%w: auth-token: %w", ErrInvalidConfig, err)
		}
		auth = authOn(c.AuthRoutes, a.Middleware)
	}
	var timeout middleware.Middleware
	if c.RequestTimeout > 0 {
		timeout = middleware.Timeout(c.RequestTimeout)
	}
	return middleware.Chain(
		closeAfterChunked,
		middleware.Recover(log),
		middleware.RequestID(),
		accessLog,
		middleware.MetricsRouted(metrics, route),
		// One probe check for both refusals (the probe path is compared once
		// per request, not once per layer).
		exceptProbes(middleware.Chain(middleware.Shed(c.MaxInFlight), rateLimit)),
		cors,
		auth,
		timeout,
		middleware.MaxBytes(c.MaxBodyBytes),
	), closers, nil
}

// closeAfterChunked answers every HTTP/1.x request that arrived with a
// Transfer-Encoding with Connection: close, so the connection ends after
// the response. net/http accepts Content-Length together with
// Transfer-Encoding: chunked, reads the body as chunked and drops the
// Content-Length before any handler runs, so no handler can tell the two
// were sent; a front proxy that framed the same bytes by Content-Length
// would then see the rest as another request (request smuggling). RFC 9112
// §6.1 allows processing such a request by Transfer-Encoding if the
// connection is closed afterwards, which is what this does; it also covers
// a Transfer-Encoding header folded with obs-fold, which net/http unfolds.
// A request without a body pays one slice-length check
// (BenchmarkCloseAfterChunked).
func closeAfterChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) != 0 && r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// exceptProbes applies mw to every request except the probes
// (service.IsProbe), which reach next directly. A nil mw stays nil.
func exceptProbes(mw middleware.Middleware) middleware.Middleware {
	if mw == nil {
		return nil
	}
	return func(next http.Handler) http.Handler {
		guarded := mw(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if service.IsProbe(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		})
	}
}

// authOn applies auth only to requests whose path AuthRequired covers;
// other requests skip it.
func authOn(routes []string, auth middleware.Middleware) middleware.Middleware {
	return func(next http.Handler) http.Handler {
		guarded := auth(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if AuthRequired(routes, r.URL.Path) {
				guarded.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
