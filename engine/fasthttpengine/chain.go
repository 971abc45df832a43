package fasthttpengine

import (
	"context"
	"fmt"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/hotpath-dev/hotpath/internal/lazyctx"
	"github.com/hotpath-dev/hotpath/internal/policy"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// Fixed response bodies: the middleware's refusals come from package
// policy itself; the router's two are net/http ServeMux's bytes
// (internal/conformance checks every one on every engine).
const (
	bodyUnauthorized = policy.BodyUnauthorized
	bodyOverloaded   = policy.BodyOverloaded
	bodyRateLimited  = policy.BodyRateLimited
	bodyTooLarge     = policy.BodyRequestTooLarge
	bodyInternal     = policy.BodyInternal
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

// steps are the policy steps in the order this engine applies them:
// requestFault settles framing before the chain (closeAfterChunked's job on
// net/http), serve sets the request ID, starts the request's span (when
// tracing is on; trace.go), counts the request in flight and runs
// the refusals in turn, finish recovers, enforces the deadline and records
// metrics and the access log, and fasthttp's MaxRequestBodySize is the body
// limit. buildChain refuses to build when policy.Order says otherwise, and
// the comparison does not compile when a step is added there, so a new step
// cannot be forgotten here.
var steps = [...]policy.Step{
	policy.StepCloseAfterChunked,
	policy.StepRecover,
	policy.StepRequestID,
	policy.StepTrace,
	policy.StepAccessLog,
	policy.StepMetrics,
	policy.StepShed,
	policy.StepRateLimit,
	policy.StepCORS,
	policy.StepAuth,
	policy.StepTimeout,
	policy.StepMaxBytes,
}

// buildChain builds the default chain's pieces from the configuration, as
// the net/http engine does (server.BuildPolicy).
func (s *Server) buildChain(st *server.Setup) error {
	if steps != policy.Order {
		return fmt.Errorf("fasthttp engine: applies the policy steps as %v, policy.Order is %v", steps, policy.Order)
	}
	p, err := server.BuildPolicy(s.cfg, s.reg, st.AccessLog, st.Tracing)
	if err != nil {
		return err
	}
	s.pol = *p
	return nil
}

// reqState is the engine's per-request state, pooled: it is valid from the
// start of serve until serve returns, like the RequestCtx it belongs to.
// Handlers reach it only through Context and RequestID.
type reqState struct {
	id       []byte // the request ID, in idBuf
	idBuf    [policy.MaxRequestIDLen]byte
	route    string // the matched pattern; "" = unmatched
	deadline time.Time
	base     context.Context // with the request's span when tracing is on
	span     trace.Span      // nil when tracing is off
	spanBuf  policy.SpanBuf  // a sampled-out span and its context (base, span)

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
	if s.pol.Trace != nil {
		s.startSpan(ctx, st)
	}
	s.pol.Metrics.IncInFlight()
	defer s.finish(ctx, st, start)

	// The probes are never shed or rate limited (see service.IsProbe);
	// string conversions in comparisons do not allocate.
	if p := ctx.Path(); string(p) != service.LivenessPath && string(p) != service.ReadinessPath {
		if !s.pol.Shed.Acquire() {
			ctx.Response.Header.SetBytesKV(hdrRetry, valOne)
			plainError(ctx, fasthttp.StatusServiceUnavailable, bodyOverloaded)
			return
		}
		defer s.pol.Shed.Release()
		if s.pol.Limiter != nil && !s.allow(ctx) {
			return
		}
	}
	if s.pol.CORS != nil && s.applyCORS(ctx) {
		return
	}
	if s.pol.Auth != nil && authRequired(s.pol.AuthRoutes, ctx.Path()) && !s.authorized(ctx) {
		return
	}
	if s.pol.Timeout > 0 {
		st.deadline = start.Add(s.pol.Timeout)
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
// net/http engine (policy.MetricsRouted).
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
		policy.PanicReport(s.log, v, debug.Stack(), string(ctx.Method()), string(ctx.Path()), string(st.id))
		ctx.Response.Reset()
		ctx.Response.Header.SetBytesKV(hdrRequestID, st.id)
		s.injectTraceparent(ctx, st)
		plainError(ctx, fasthttp.StatusInternalServerError, bodyInternal)
	}
	// One monotonic clock read (time.Since on a time.Now value) instead of
	// time.Now's wall and monotonic pair: clock reads cost 150-400 ns on
	// some VMs (kvm-clock), a measurable share of a 15 µs request.
	d := time.Since(start)
	if !st.deadline.IsZero() && d > s.pol.Timeout && !ctx.Hijacked() {
		// fasthttp sends nothing until the handler returns, so a handler
		// that overran its deadline is answered like the net/http engine
		// answers one that had not started its response: 503.
		ctx.Response.Reset()
		ctx.Response.Header.SetBytesKV(hdrRequestID, st.id)
		s.injectTraceparent(ctx, st)
		plainError(ctx, fasthttp.StatusServiceUnavailable, policy.TimeoutBody)
	}
	if st.rc != nil {
		st.rc.End()
	}
	code := ctx.Response.StatusCode()
	bytes := int64(len(ctx.Response.Body()))
	s.pol.Metrics.DecInFlight()
	route := st.route
	if route == "" {
		route = s.routeLabel(ctx) // refused before routing: label the route it asked for
	}
	s.pol.Metrics.Observe(route, methodLabel(ctx), code, d, bytes)
	if st.span != nil {
		endSpan(ctx, st.span, route, code)
	}
	if s.pol.Access != nil {
		s.logAccess(ctx, st, code, bytes, d)
	}
	ctx.SetUserValue(stateKey, nil)
	*st = reqState{}
	statePool.Put(st)
}

// methodLabel returns the request method as a constant string without
// allocating (policy.MethodLabelBytes).
func methodLabel(ctx *fasthttp.RequestCtx) string { return policy.MethodLabelBytes(ctx.Method()) }

// setRequestID keeps a valid incoming X-Request-ID or generates one, copies
// it into the state and sets it on the response.
func (s *Server) setRequestID(ctx *fasthttp.RequestCtx, st *reqState) {
	if in := ctx.Request.Header.PeekBytes(hdrRequestID); policy.ValidRequestIDBytes(in) {
		st.id = append(st.idBuf[:0], in...)
	} else {
		st.id = policy.AppendRequestID(st.idBuf[:0])
	}
	ctx.Response.Header.SetBytesKV(hdrRequestID, st.id)
}

// allow applies the per-client rate limit; false means 429 was sent.
func (s *Server) allow(ctx *fasthttp.RequestCtx) bool {
	addr, _ := netip.AddrFromSlice(ctx.RemoteIP())
	var buf [64]byte
	key := policy.AppendClientKey(buf[:0], addr.Unmap(), 0)
	ok, wait := s.pol.Limiter.AllowBytes(key, time.Now())
	if ok {
		return true
	}
	ctx.Response.Header.Set(string(hdrRetry), strconv.Itoa(policy.RetryAfterSeconds(wait)))
	plainError(ctx, fasthttp.StatusTooManyRequests, bodyRateLimited)
	return false
}

// authorized checks the bearer token; false means 401 was sent.
func (s *Server) authorized(ctx *fasthttp.RequestCtx) bool {
	h := ctx.Request.Header.PeekBytes(hdrAuth)
	if len(h) > 0 && s.pol.Auth.Check(string(h)) {
		return true
	}
	ctx.Response.Header.Set(string(hdrWWWAuth), s.pol.Auth.Challenge(len(h) > 0))
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
	d := s.pol.CORS.Decide(string(ctx.Method()), string(origin), reqMethod, reqHeaders)
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
	s.pol.Access.Log(policy.AccessEntry{
		Method:     string(ctx.Method()),
		Path:       string(ctx.Path()),
		Route:      st.route,
		Status:     code,
		Bytes:      bytes,
		Duration:   d,
		RemoteAddr: ctx.RemoteAddr().String(),
		RequestID:  string(st.id),
		TraceID:    traceID(st),
		UserAgent:  string(ctx.UserAgent()),
	})
}

// plainError writes a short text/plain error like package policy's
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
// the request ID, span, metrics and access log, like the net/http engine's
// MaxBytes.
func (s *Server) tooLarge(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	st := statePool.Get().(*reqState)
	s.setRequestID(ctx, st)
	if s.pol.Trace != nil {
		st.base = s.base
		s.startSpan(ctx, st)
	}
	plainError(ctx, fasthttp.StatusRequestEntityTooLarge, bodyTooLarge)
	d := time.Since(start)
	s.pol.Metrics.Observe("", methodLabel(ctx), fasthttp.StatusRequestEntityTooLarge, d, int64(len(bodyTooLarge)))
	if st.span != nil {
		endSpan(ctx, st.span, s.routeLabel(ctx), fasthttp.StatusRequestEntityTooLarge)
	}
	if s.pol.Access != nil { // logged like any refusal, as on net/http
		s.logAccess(ctx, st, fasthttp.StatusRequestEntityTooLarge, int64(len(bodyTooLarge)), d)
	}
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
		// base may live in st (a sampled-out span): the handler's copy
		// must outlive it.
		st.rc = lazyctx.New(st.spanBuf.Detach(st.base), st.deadline, func(cancel context.CancelFunc) func() {
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
