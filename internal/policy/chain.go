package policy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hotpath-dev/hotpath/service"
)

// Config is what the default chain is built from: the part of server.Config
// that concerns it, after server.Config.WithDefaults (server maps one to the
// other in one function, server.BuildPolicy). A zero or empty field turns its
// piece off where the field says so.
type Config struct {
	// AccessLog turns the access log on; AccessLogJSON selects JSON lines,
	// AccessLogSample logs one request in N and AccessLogOut receives the
	// lines (nil: os.Stderr).
	AccessLog       bool
	AccessLogJSON   bool
	AccessLogSample int
	AccessLogOut    io.Writer

	// MaxInFlight caps concurrently handled requests (Shed); <= 0: no cap.
	MaxInFlight int
	// RateLimit is requests per second per client address; 0: off.
	RateLimit float64
	RateBurst int
	// CORSOrigins are the allowed origins; empty: no CORS.
	CORSOrigins []string
	// AuthTokens are the accepted bearer tokens; empty: no auth. AuthRealm
	// is named in the challenge; AuthRoutes are the paths that need a token
	// (see AuthRequired).
	AuthTokens []string
	AuthRealm  string
	AuthRoutes []string
	// RequestTimeout is each request's deadline; 0: none.
	RequestTimeout time.Duration
	// MaxBodyBytes caps request bodies (413 above it).
	MaxBodyBytes int64
	// Tracer, if not nil, turns on the Trace step: a SERVER span per
	// request from this provider, the parent extracted with Propagator
	// (nil: tracecontext and baggage); TraceResponseHeader adds the span's
	// traceparent to every response. Nil: no Trace step at all. Span
	// attributes are passed from a reused buffer, so the provider's spans
	// must copy what SetAttributes gives them (the OTel SDK's do).
	Tracer              trace.TracerProvider
	Propagator          propagation.TextMapPropagator
	TraceResponseHeader bool
	// TraceSampling, if not nil, is Tracer's sampler and ID hook: spans it
	// samples out are then made without the SDK (see Sampling).
	TraceSampling Sampling
}

// Step is one stage of the default chain.
type Step uint8

// The steps, in Order. Each engine implements every step (the fasthttp
// engine refuses to start when its list differs from Order).
const (
	StepCloseAfterChunked Step = iota
	StepRecover
	StepRequestID
	StepTrace
	StepAccessLog
	StepMetrics
	StepShed
	StepRateLimit
	StepCORS
	StepAuth
	StepTimeout
	StepMaxBytes
)

var stepNames = [...]string{"closeAfterChunked", "recover", "requestID", "trace", "accessLog", "metrics", "shed", "rateLimit", "cors", "auth", "timeout", "maxBytes"}

func (s Step) String() string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}
	return fmt.Sprintf("Step(%d)", s)
}

// ExemptsProbes reports whether the probes (service.IsProbe: /healthz,
// /readyz) bypass the step: a busy pod must not fail them.
func (s Step) ExemptsProbes() bool { return s == StepShed || s == StepRateLimit }

// Order is the default chain of every engine, outermost first. It is set
// here and only here (docs/serve.md explains it):
//
//   - CloseAfterChunked: a request framed by Transfer-Encoding closes its
//     connection after the response, whatever answers it (request
//     smuggling; see CloseAfterChunked). net/http only: the fasthttp engine
//     settles framing before the chain.
//   - Recover: outermost of the rest, so a panic anywhere below, middleware
//     included, becomes a 500 and the process keeps serving.
//   - RequestID: next, so every later layer (logs, errors, panics) and every
//     response, rejected ones included, carries X-Request-ID.
//   - Trace (if on): a span per request, so every refusal below (shed,
//     rate-limited, 401, timeout, 413) is a span with its status, and the
//     access log can print the trace ID beside the request ID.
//   - AccessLog (if on): sees the final status of every request, including
//     those shed, limited or refused below.
//   - Metrics: counts every answered request, 429s and 503s included, so
//     shedding and limiting are visible on dashboards.
//   - Shed: the cheapest refusal (one atomic add) comes before anything that
//     costs memory or locks under overload. Never for the probes.
//   - RateLimit (if on): per-client buckets; before Auth so token guessing
//     is rate limited too. Never for the probes either.
//   - CORS (if configured): before Auth, so preflight OPTIONS (which carry
//     no credentials) are answered and 401s carry CORS headers a browser
//     reads.
//   - Auth (if tokens): only on Config.AuthRoutes.
//   - Timeout (if set): the deadline covers the handler's work, not the
//     refusals above.
//   - MaxBytes: innermost, next to the handler that reads the body.
var Order = [...]Step{
	StepCloseAfterChunked,
	StepRecover,
	StepRequestID,
	StepTrace,
	StepAccessLog,
	StepMetrics,
	StepShed,
	StepRateLimit,
	StepCORS,
	StepAuth,
	StepTimeout,
	StepMaxBytes,
}

// Policy is the default chain built from a Config: the stateful pieces, each
// nil when its step is off (Metrics and Shed are always there), and the
// values the other steps need. Engines read the fields; nobody writes them
// after Build. Call Close once the server has stopped.
type Policy struct {
	Access       *AccessLogger // nil: no access log
	Trace        *Tracer       // nil: no tracing
	Metrics      *HTTPMetrics
	Shed         *Shedder
	Limiter      *RateLimiter // nil: no rate limit
	CORS         *CORSPolicy  // nil: no CORS
	Auth         *BearerAuth  // nil: no auth
	AuthRoutes   []string
	Timeout      time.Duration // 0: no deadline
	MaxBodyBytes int64
}

// OptionError is a Config value Build refused; Option names it the way
// hotpath serve's flag does ("rate-limit").
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// Build makes the pieces of the default chain from c and registers the HTTP
// metrics with reg. A refused Config value is an *OptionError; a failed
// registration wraps the registry's error. On error nothing keeps running.
func Build(c Config, reg prometheus.Registerer) (_ *Policy, err error) {
	p := &Policy{AuthRoutes: c.AuthRoutes, Timeout: c.RequestTimeout, MaxBodyBytes: c.MaxBodyBytes}
	defer func() {
		if err != nil {
			p.Close() // stop the access log's flusher on a later failure
		}
	}()
	if c.Tracer != nil {
		p.Trace = NewTracer(c.Tracer, c.Propagator, c.TraceResponseHeader)
		if c.TraceSampling != nil {
			p.Trace.useSampling(c.TraceSampling)
		}
	}
	if c.AccessLog {
		if p.Access, err = NewAccessLogger(AccessLogConfig{Out: c.AccessLogOut, JSON: c.AccessLogJSON, Sample: c.AccessLogSample}); err != nil {
			return nil, &OptionError{"access-log", err}
		}
		p.Access.traceIDs = p.Trace != nil
	}
	if p.Metrics, err = NewHTTPMetrics(reg); err != nil {
		return nil, fmt.Errorf("register HTTP metrics: %w", err)
	}
	p.Shed = NewShedder(c.MaxInFlight)
	if c.RateLimit > 0 {
		if p.Limiter, err = NewRateLimiter(RateLimitConfig{Rate: c.RateLimit, Burst: c.RateBurst}); err != nil {
			return nil, &OptionError{"rate-limit", err}
		}
	}
	if len(c.CORSOrigins) > 0 {
		if p.CORS, err = NewCORSPolicy(CORSConfig{AllowedOrigins: c.CORSOrigins}); err != nil {
			return nil, &OptionError{"cors-origins", err}
		}
	}
	if len(c.AuthTokens) > 0 {
		if p.Auth, err = NewBearerAuth(c.AuthTokens, c.AuthRealm); err != nil {
			return nil, &OptionError{"auth-token", err}
		}
	}
	return p, nil
}

// Close stops what Build started (the access log's flusher, writing out
// what it buffered) and returns its error. Later calls return the same.
func (p *Policy) Close() error {
	if p.Access != nil {
		return p.Access.Close()
	}
	return nil
}

// Middleware returns the net/http form of the chain, every step of Order in
// turn. log receives recovered panics (nil: discarded); route labels the
// metrics of requests refused before the router (see MetricsRouted; nil:
// UnmatchedRoute). Consecutive probe-exempt steps share one probe check.
func (p *Policy) Middleware(log *slog.Logger, route func(*http.Request) string) Middleware {
	var out, exempt []Middleware
	flush := func() {
		if len(exempt) > 0 {
			out = append(out, exceptProbes(Chain(exempt...)))
			exempt = nil
		}
	}
	for _, s := range Order {
		mw := p.httpStep(s, log, route)
		if mw == nil {
			continue
		}
		if s.ExemptsProbes() {
			exempt = append(exempt, mw)
			continue
		}
		flush()
		out = append(out, mw)
	}
	flush()
	return Chain(out...)
}

// httpStep is the net/http middleware of one step, nil when it is off.
func (p *Policy) httpStep(s Step, log *slog.Logger, route func(*http.Request) string) Middleware {
	switch s {
	case StepCloseAfterChunked:
		return CloseAfterChunked
	case StepRecover:
		return Recover(log)
	case StepRequestID:
		return RequestID()
	case StepTrace:
		if p.Trace != nil {
			return p.Trace.Middleware(route)
		}
	case StepAccessLog:
		if p.Access != nil {
			return p.Access.Middleware
		}
	case StepMetrics:
		return MetricsRouted(p.Metrics, route)
	case StepShed:
		if p.Shed.max > 0 {
			return p.Shed.Middleware
		}
	case StepRateLimit:
		if p.Limiter != nil {
			return p.Limiter.Middleware
		}
	case StepCORS:
		if p.CORS != nil {
			return p.CORS.Middleware
		}
	case StepAuth:
		if p.Auth != nil {
			return authOn(p.AuthRoutes, p.Auth.Middleware)
		}
	case StepTimeout:
		if p.Timeout > 0 {
			return Timeout(p.Timeout)
		}
	case StepMaxBytes:
		return MaxBytes(p.MaxBodyBytes)
	default:
		panic(errors.New("hotpath: policy step " + s.String() + " has no net/http form"))
	}
	return nil
}

// CloseAfterChunked answers every HTTP/1.x request that arrived with a
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
func CloseAfterChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) != 0 && r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// exceptProbes applies mw to every request except the probes
// (service.IsProbe), which reach next directly.
func exceptProbes(mw Middleware) Middleware {
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
func authOn(routes []string, auth Middleware) Middleware {
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

// AuthRequired reports whether path is covered by routes, as documented on
// server.Config.AuthRoutes (the routes after WithDefaults): "*" covers every
// path except /healthz and /readyz, a route ending in "/" covers its
// subtree, any other route covers itself only. A gRPC call's path is
// "/package.Service/Method", so the same routes can guard gRPC methods.
func AuthRequired(routes []string, path string) bool {
	for _, r := range routes {
		switch {
		case r == "*":
			if !service.IsProbe(path) {
				return true
			}
		case strings.HasSuffix(r, "/"):
			if strings.HasPrefix(path, r) {
				return true
			}
		case path == r:
			return true
		}
	}
	return false
}
