package fasthttpengine

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/internal/lazyctx"
	"github.com/hotpath-dev/hotpath/middleware"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// Fixed response bodies: the middleware's refusals come from package
// middleware itself; the router's two are net/http ServeMux's bytes
// (internal/conformance checks every one on every engine).
const (
	bodyUnauthorized = middleware.BodyUnauthorized
	bodyOverloaded   = middleware.BodyOverloaded
	bodyRateLimited  = middleware.BodyRateLimited
	bodyTooLarge     = middleware.BodyRequestTooLarge
	bodyInternal     = middleware.BodyInternal
	bodyNotFound     = "404 page not found\n"
	bodyNotAllowed   = "Method Not Allowed\n"
)

var (
	hdrRequestID = []byte("X-Request-Id")
	hdrNosniff   = []byte("X-Content-Type-Options")
	hdrAllow     = []byte("Allow")
	hdrRetry     = []byte("Retry-After")
	hdrAuth      = []byte("Authorization")
	hdrWWWAuth   = []byte("WWW-Authenticate")
	hdrOrigin    = []byte("Origin")
	hdrVary      = []byte("Vary")
	valNosniff   = []byte("nosniff")
	valOne       = []byte("1")
	textPlain    = []byte("text/plain; charset=utf-8")
)

// buildChain makes the cores of the default chain from the configuration.
// The order in which serve applies them is the net/http engine's (see
// server's chain.go): recover, request ID, access log, metrics, shed, rate
// limit, CORS, auth, timeout; the body limit is fasthttp's own
// (MaxRequestBodySize), enforced while reading the request.
func (s *Server) buildChain(accessOut io.Writer) error {
	var err error
	if s.metrics, err = middleware.NewHTTPMetrics(s.reg); err != nil {
		return fmt.Errorf("register HTTP metrics: %w", err)
	}
	s.shed = middleware.NewShedder(s.cfg.MaxInFlight)
	if s.cfg.RateLimit > 0 {
		if s.limiter, err = middleware.NewRateLimiter(middleware.RateLimitConfig{Rate: s.cfg.RateLimit, Burst: s.cfg.RateBurst}); err != nil {
			return fmt.Errorf("%w: rate-limit: %w", server.ErrInvalidConfig, err)
		}
	}
	if len(s.cfg.CORSOrigins) > 0 {
		if s.cors, err = middleware.NewCORSPolicy(middleware.CORSConfig{AllowedOrigins: s.cfg.CORSOrigins}); err != nil {
			return fmt.Errorf("%w: cors-origins: %w", server.ErrInvalidConfig, err)
		}
	}
	if len(s.cfg.AuthTokens) > 0 {
		if s.auth, err = middleware.NewBearerAuth(s.cfg.AuthTokens, server.DefaultRealm); err != nil {
			return fmt.Errorf("%w: auth-token: %w", server.ErrInvalidConfig, err)
		}
	}
	if s.cfg.AccessLog {
		if s.access, err = middleware.NewAccessLogger(middleware.AccessLogConfig{
			Out: accessOut, JSON: s.cfg.AccessLogFormat == "json", Sample: s.cfg.AccessLogSample,
		}); err != nil {
			return fmt.Errorf("%w: access-log: %w", server.ErrInvalidConfig, err)
		}
	}
	return nil
}

// reqState is the engine's per-request state, pooled: it is valid from the
// start of serve until serve returns, like the RequestCtx it belongs to.
// Handlers reach it only through Context and RequestID.
type reqState struct {
	id       []byte // the request ID, in idBuf
	idBuf    [middleware.MaxRequestIDLen]byte
	route    string // the matched pattern; "" = unmatched
	deadline time.Time
	base     context.Context

	rc *lazyctx.Context // set on demand by Context
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// stateKey is the RequestCtx user-value key of the state. A pointer key
// converts to an interface without allocating.
var stateKey = new(byte)

func stateOf(ctx *fasthttp.RequestCtx) *reqState {
	st, _ := ctx.UserValue(stateKey).(*reqState)
	return st
}

// serve is the public handler: the default chain around the router. It does
// not allocate for a request whose (route, method, code) was seen before,
// unless the handler asks for a Context or the request is refused.
func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	if code := requestFault(&ctx.Request.Header); code != 0 {
		refuse(ctx, code)
		return
	}
	// fasthttp stamps each request when it starts reading it; using that
	// stamp saves a clock read per request (costly on some VMs).
	start := ctx.Time()
	st := statePool.Get().(*reqState)
	st.base = s.base
	ctx.SetUserValue(stateKey, st)
	s.setRequestID(ctx, st)
	s.metrics.IncInFlight()
	defer s.finish(ctx, st, start)

	// The probes are never shed or rate limited (see service.IsProbe);
	// string conversions in comparisons do not allocate.
	if p := ctx.Path(); string(p) != service.LivenessPath && string(p) != service.ReadinessPath {
		if !s.shed.Acquire() {
			ctx.Response.Header.SetBytesKV(hdrRetry, valOne)
			plainError(ctx, fasthttp.StatusServiceUnavailable, bodyOverloaded)
			return
		}
		defer s.shed.Release()
		if s.limiter != nil && !s.allow(ctx) {
			return
		}
	}
	if s.cors != nil && s.applyCORS(ctx) {
		return
	}
	if s.auth != nil && authRequired(s.cfg.AuthRoutes, ctx.Path()) && !s.authorized(ctx) {
		return
	}
	if s.cfg.RequestTimeout > 0 {
		st.deadline = start.Add(s.cfg.RequestTimeout)
	}
	s.route(ctx, st)
}

// route dispatches to the matched handler, or answers 404/405.
func (s *Server) route(ctx *fasthttp.RequestCtx, st *reqState) {
	pr, m := s.router.find(ctx.Path(), ctx.Method())
	if pr == nil {
		plainError(ctx, fasthttp.StatusNotFound, bodyNotFound)
		return
	}
	if m == nil {
		ctx.Response.Header.Set(string(hdrAllow), pr.allow)
		plainError(ctx, fasthttp.StatusMethodNotAllowed, bodyNotAllowed)
		return
	}
	st.route = m.label
	m.h(ctx)
}

// routeLabel is the label of the route ctx would reach, "" for none (404,
// 405): the metrics label of a request refused before routing, as on the
// net/http engine (middleware.MetricsRouted).
func (s *Server) routeLabel(ctx *fasthttp.RequestCtx) string {
	if _, m := s.router.find(ctx.Path(), ctx.Method()); m != nil {
		return m.label
	}
	return ""
}

// finish runs after the handler, also when it panicked: it recovers (500),
// enforces the request deadline, ends the request's context, records metrics
// and the access log, and returns the state to its pool.
func (s *Server) finish(ctx *fasthttp.RequestCtx, st *reqState, start time.Time) {
	if v := recover(); v != nil {
		middleware.PanicReport(s.log, v, debug.Stack(), string(ctx.Method()), string(ctx.Path()), string(st.id))
		ctx.Response.Reset()
		ctx.Response.Header.SetBytesKV(hdrRequestID, st.id)
		plainError(ctx, fasthttp.StatusInternalServerError, bodyInternal)
	}
	// One monotonic clock read (time.Since on a time.Now value) instead of
	// time.Now's wall and monotonic pair: clock reads cost 150-400 ns on
	// some VMs (kvm-clock), a measurable share of a 15 µs request.
	d := time.Since(start)
	if !st.deadline.IsZero() && d > s.cfg.RequestTimeout && !ctx.Hijacked() {
		// fasthttp sends nothing until the handler returns, so a handler
		// that overran its deadline is answered like the net/http engine
		// answers one that had not started its response: 503.
		ctx.Response.Reset()
		ctx.Response.Header.SetBytesKV(hdrRequestID, st.id)
		plainError(ctx, fasthttp.StatusServiceUnavailable, middleware.TimeoutBody)
	}
	if st.rc != nil {
		st.rc.End()
	}
	code := ctx.Response.StatusCode()
	bytes := int64(len(ctx.Response.Body()))
	s.metrics.DecInFlight()
	route := st.route
	if route == "" {
		route = s.routeLabel(ctx) // refused before routing: label the route it asked for
	}
	s.metrics.Observe(route, methodLabel(ctx), code, d, bytes)
	if s.access != nil {
		s.logAccess(ctx, st, code, bytes, d)
	}
	ctx.SetUserValue(stateKey, nil)
	*st = reqState{}
	statePool.Put(st)
}

// methodLabel returns the request method as a constant string without
// allocating (middleware.MethodLabelBytes).
func methodLabel(ctx *fasthttp.RequestCtx) string { return middleware.MethodLabelBytes(ctx.Method()) }

// setRequestID keeps a valid incoming X-Request-ID or generates one, copies
// it into the state and sets it on the response.
func (s *Server) setRequestID(ctx *fasthttp.RequestCtx, st *reqState) {
	if in := ctx.Request.Header.PeekBytes(hdrRequestID); middleware.ValidRequestIDBytes(in) {
		st.id = append(st.idBuf[:0], in...)
	} else {
		st.id = middleware.AppendRequestID(st.idBuf[:0])
	}
	ctx.Response.Header.SetBytesKV(hdrRequestID, st.id)
}

// allow applies the per-client rate limit; false means 429 was sent.
func (s *Server) allow(ctx *fasthttp.RequestCtx) bool {
	addr, _ := netip.AddrFromSlice(ctx.RemoteIP())
	var buf [64]byte
	key := middleware.AppendClientKey(buf[:0], addr.Unmap(), 0)
	ok, wait := s.limiter.AllowBytes(key, time.Now())
	if ok {
		return true
	}
	ctx.Response.Header.Set(string(hdrRetry), strconv.Itoa(middleware.RetryAfterSeconds(wait)))
	plainError(ctx, fasthttp.StatusTooManyRequests, bodyRateLimited)
	return false
}

// authorized checks the bearer token; false means 401 was sent.
func (s *Server) authorized(ctx *fasthttp.RequestCtx) bool {
	h := ctx.Request.Header.PeekBytes(hdrAuth)
	if len(h) > 0 && s.auth.Check(string(h)) {
		return true
	}
	ctx.Response.Header.Set(string(hdrWWWAuth), s.auth.Challenge(len(h) > 0))
	plainError(ctx, fasthttp.StatusUnauthorized, bodyUnauthorized)
	return false
}

// applyCORS writes the CORS decision of the shared core
// (CORSPolicy.Decide); true means a preflight was answered with 204.
func (s *Server) applyCORS(ctx *fasthttp.RequestCtx) bool {
	origin := ctx.Request.Header.PeekBytes(hdrOrigin)
	if len(origin) == 0 {
		return false
	}
	var reqMethod, reqHeaders string
	if ctx.IsOptions() {
		reqMethod = string(ctx.Request.Header.Peek("Access-Control-Request-Method"))
		reqHeaders = string(joinedHeader(&ctx.Request.Header, "Access-Control-Request-Headers"))
	}
	d := s.cors.Decide(string(ctx.Method()), string(origin), reqMethod, reqHeaders)
	h := &ctx.Response.Header
	for _, v := range d.Vary {
		h.Add("Vary", v)
	}
	if d.AllowOrigin != "" {
		h.Set("Access-Control-Allow-Origin", d.AllowOrigin)
		if d.AllowCredentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	if d.Preflight {
		if d.AllowOrigin != "" {
			h.Set("Access-Control-Allow-Methods", d.AllowMethods)
			if d.AllowHeaders != "" {
				h.Set("Access-Control-Allow-Headers", d.AllowHeaders)
			}
			h.Set("Access-Control-Max-Age", d.MaxAge)
		}
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return true
	}
	if d.ExposeHeaders != "" {
		h.Set("Access-Control-Expose-Headers", d.ExposeHeaders)
	}
	return false
}

// joinedHeader returns every line of header key joined with ",", as
// net/http's Values joined would be.
func joinedHeader(h *fasthttp.RequestHeader, key string) []byte {
	var out []byte
	for _, v := range h.PeekAll(key) {
		if len(out) > 0 {
			out = append(out, ',')
		}
		out = append(out, v...)
	}
	return out
}

// authRequired reports whether path is covered by Config.AuthRoutes (after
// defaults): "*" covers everything but the probes, "x/" a subtree, else an
// exact path. It is server.AuthRequired on fasthttp's []byte path: calling
// that one would convert the path to a string, an allocation per request on
// an engine that makes none. TestAuthRequiredMatchesServer keeps the two
// rules equal.
func authRequired(routes []string, path []byte) bool {
	for _, r := range routes {
		if r == "*" {
			if string(path) != service.LivenessPath && string(path) != service.ReadinessPath {
				return true
			}
			continue
		}
		if r[len(r)-1] == '/' && len(path) >= len(r) && string(path[:len(r)]) == r || string(path) == r {
			return true
		}
	}
	return false
}

func (s *Server) logAccess(ctx *fasthttp.RequestCtx, st *reqState, code int, bytes int64, d time.Duration) {
	s.access.Log(middleware.AccessEntry{
		Method:     string(ctx.Method()),
		Path:       string(ctx.Path()),
		Route:      st.route,
		Status:     code,
		Bytes:      bytes,
		Duration:   d,
		RemoteAddr: ctx.RemoteAddr().String(),
		RequestID:  string(st.id),
		UserAgent:  string(ctx.UserAgent()),
	})
}

// plainError writes a short text/plain error like package middleware's
// net/http adapters and net/http's http.Error: status, Content-Type,
// X-Content-Type-Options: nosniff and a fixed body.
func plainError(ctx *fasthttp.RequestCtx, code int, body string) {
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetContentTypeBytes(textPlain)
	ctx.Response.Header.SetBytesKV(hdrNosniff, valNosniff)
	ctx.Response.SetBodyString(body)
}

// serveError answers requests fasthttp refuses before the handler: a body
// over MaxBodyBytes (413, through the request ID and metrics like the
// net/http engine's MaxBytes), headers over MaxHeaderBytes (431) and
// malformed requests (400), with net/http's bodies.
func (s *Server) serveError(ctx *fasthttp.RequestCtx, err error) {
	switch err.(type) {
	case *fasthttp.ErrSmallBuffer:
		plainError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large")
		return
	}
	if err == fasthttp.ErrBodyTooLarge {
		s.tooLarge(ctx)
		return
	}
	plainError(ctx, fasthttp.StatusBadRequest, bodyBadRequest)
}

// tooLarge answers a request whose body is over MaxBodyBytes: 413 through
// the request ID and metrics, like the net/http engine's MaxBytes.
func (s *Server) tooLarge(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	st := statePool.Get().(*reqState)
	s.setRequestID(ctx, st)
	plainError(ctx, fasthttp.StatusRequestEntityTooLarge, bodyTooLarge)
	s.metrics.Observe("", methodLabel(ctx), fasthttp.StatusRequestEntityTooLarge, time.Since(start), int64(len(bodyTooLarge)))
	*st = reqState{}
	statePool.Put(st)
}

// expect decides an Expect: 100-continue request before fasthttp answers
// 100 Continue: a declared body over MaxBodyBytes gets 413 instead, and the
// client never sends it (RFC 9110 §10.1.1); without this, fasthttp sent
// 100 Continue, read the body and only then refused it. fasthttp does not
// run the handler after a refusal, writes the response as it stands and
// closes the connection. Its documentation asks ExpectHandler not to modify
// the response; this one does (the 413's body, request ID and metrics, as
// for any 413), and TestExpectContinueOverLimit guards that fasthttp still
// sends what it wrote.
func (s *Server) expect(ctx *fasthttp.RequestCtx) int {
	if cl := ctx.Request.Header.ContentLength(); cl > 0 && int64(cl) > s.cfg.MaxBodyBytes {
		s.tooLarge(ctx)
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}

// Context returns the context of a request served by this engine, made on
// first use: it carries the request deadline (Config.RequestTimeout) and is
// cancelled when the client disconnects, when the handler returns, or when a
// shutdown runs out of time. Unlike the RequestCtx itself it may be kept
// after the handler returns (it is not pooled). Handlers that block (waits,
// outgoing calls) should select on its Done. The first call allocates; the
// timer and the disconnect watcher behind Done start only when Done or Err
// is first called, so passing the context to code that never waits costs
// neither. For a RequestCtx not served by this engine it returns ctx itself.
func Context(ctx *fasthttp.RequestCtx) context.Context {
	st := stateOf(ctx)
	if st == nil {
		return ctx
	}
	if st.rc == nil {
		conn := ctx.Conn()
		st.rc = lazyctx.New(st.base, st.deadline, func(cancel context.CancelFunc) func() {
			return watchDisconnect(conn, cancel)
		})
	}
	return st.rc
}

// RequestID returns the request's X-Request-ID (kept from the request or
// generated). The slice is valid until the handler returns; copy it to keep
// it. It is nil for a RequestCtx not served by this engine.
func RequestID(ctx *fasthttp.RequestCtx) []byte {
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return nil
}
