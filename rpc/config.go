package rpc

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/hotpath-dev/hotpath/ingest"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultMaxMsgSize           = 4 << 20 // bytes, both directions, as grpc-go's receive default
	DefaultMaxConcurrentStreams = 100     // per connection, the value the seed discusses
	DefaultKeepaliveMinTime     = 10 * time.Second
	DefaultKeepaliveTime        = 2 * time.Hour
	DefaultKeepaliveTimeout     = 20 * time.Second
	DefaultStreamWorkers        = 32
	DefaultMaxHeaderListSize    = 16 << 10 // bytes, as hotpath serve's --max-header-bytes
	DefaultMaxInFlight          = 1024     // calls, as hotpath serve's --max-inflight
	DefaultInitialWindowSize    = 64 << 10 // bytes per stream
	DefaultInitialConnWindow    = 1 << 20  // bytes per connection
)

// Config tunes a Server. The zero value is a working configuration: every
// zero field means the documented default. Config is read once by New.
type Config struct {
	// MaxRecvMsgSize bounds one received message (gRPC) or one JSON request
	// body (gateway), in bytes. Larger messages fail with RESOURCE_EXHAUSTED
	// (HTTP 413 on the gateway). Zero means DefaultMaxMsgSize.
	MaxRecvMsgSize int
	// MaxSendMsgSize bounds one sent message in bytes. Zero means DefaultMaxMsgSize.
	MaxSendMsgSize int
	// MaxConcurrentStreams is the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS the
	// server advertises per connection; a stream beyond it is reset with
	// REFUSED_STREAM before its headers reach any handler. A stream counts
	// until grpc-go has written its last frame, so streams whose answer is
	// stuck behind the client's flow-control window keep their slot. Zero
	// means DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// MaxHeaderListSize bounds a request's header list as HPACK decodes it
	// (names plus values plus 32 bytes per field, RFC 9113 §6.5.2), and is
	// advertised as SETTINGS_MAX_HEADER_LIST_SIZE. A larger list is not
	// kept: decoding stops storing fields at the limit, and the stream is
	// reset with FRAME_SIZE_ERROR before any handler runs (a grpc-go client
	// refuses to send it: INTERNAL). Zero means DefaultMaxHeaderListSize
	// (grpc-go's own default is 16 MiB).
	MaxHeaderListSize uint32
	// InitialWindowSize and InitialConnWindowSize are the HTTP/2
	// flow-control windows the server grants per stream and per connection
	// (grpc.InitialWindowSize, grpc.InitialConnWindowSize), at least 65,535
	// bytes (HTTP/2's initial window).
	// The stream window bounds what a client can make the server buffer for
	// a handler that does not read; a message the handler reads may need
	// up to MaxRecvMsgSize. Setting them turns off grpc-go's
	// bandwidth-delay estimate, which grows both windows to 16 MiB on a fast
	// link: 100 streams × 16 MiB a connection. Zero means
	// DefaultInitialWindowSize and DefaultInitialConnWindow.
	InitialWindowSize, InitialConnWindowSize int32
	// MaxInFlight caps the gRPC calls the server runs at once, over all
	// connections: a call counts from the moment its headers arrive until
	// its stream's context ends. A call beyond the cap is refused at once
	// with UNAVAILABLE, before its request is read; while the cap is full, a
	// slot that frees may be seen up to a millisecond late. Gateway calls
	// are not counted (the HTTP server in front caps those). Zero means
	// DefaultMaxInFlight; negative means no cap.
	MaxInFlight int

	// KeepaliveMinTime is the enforcement policy: a client pinging more often
	// than this is sent GOAWAY ("too_many_pings"). Zero means DefaultKeepaliveMinTime.
	KeepaliveMinTime time.Duration
	// KeepalivePermitWithoutStream allows client pings on connections with no
	// active stream. False (the default) treats them as abuse.
	KeepalivePermitWithoutStream bool
	// KeepaliveTime is how long a connection may be idle before the server
	// pings it. Zero means DefaultKeepaliveTime.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long the server waits for a ping ack before it
	// closes the connection. Zero means DefaultKeepaliveTimeout.
	KeepaliveTimeout time.Duration
	// MaxConnectionIdle closes connections idle for longer (GOAWAY). Zero: never.
	MaxConnectionIdle time.Duration

	// RateLimit is the per-client token bucket of the HTTP side's
	// --rate-limit for native gRPC calls: RateLimit calls a second per
	// client address (the connection's peer), bursts of RateBurst (zero:
	// the rate rounded up, at least 1). A call over it is refused with
	// RESOURCE_EXHAUSTED and a retry-after header (seconds) before its
	// handler runs. Gateway calls are not counted (the HTTP server in front
	// limits those). The budget is this server's own: a client has one on
	// the HTTP side and one here. Zero: no limit.
	RateLimit float64
	RateBurst int

	// Timeout caps every call's deadline: a call gets the earlier of the
	// client's deadline (grpc-timeout) and now+Timeout, counted for gRPC
	// from the moment the stream's headers arrive (so a client that never
	// sends its request message is ended with DEADLINE_EXCEEDED too) and
	// for gateway calls from when the interceptors run. Zero: the client's
	// deadline only (none if the client sent none).
	Timeout time.Duration

	// WriteTimeout bounds the time from a call's headers arriving to the
	// end of its answer on the wire (trailers or RST_STREAM written), as
	// net/http's WriteTimeout does for a request: keep it above Timeout.
	// A connection holding a call past it is closed, which frees every
	// answer queued on it; that is the only way to free an answer grpc-go
	// has queued behind a client's flow-control window (or a socket the
	// client does not read): see watchdog.go. Zero: no limit (grpc-go's
	// behaviour: such answers stay until the client leaves). It needs the
	// connections: pass credentials as Creds, not as a grpc.Creds
	// ServerOption, which would replace the watching ones.
	WriteTimeout time.Duration
	// Creds are the transport credentials of the server's connections
	// (grpc.Creds). Nil means none: h2c.
	Creds credentials.TransportCredentials

	// AuthToken, when not empty, makes every method except those of the
	// services in AuthExempt require "authorization: Bearer <AuthToken>"
	// (compared in constant time); others fail with UNAUTHENTICATED (HTTP 401).
	AuthToken string
	// AuthRequired, when set, narrows the token requirement to the methods
	// ("/package.Service/Method") for which it returns true; services in
	// AuthExempt stay exempt either way. Nil means every method outside
	// AuthExempt. hotpath serve passes --auth-routes here
	// (server.AuthRequired), so one list guards HTTP paths and gRPC methods.
	AuthRequired func(fullMethod string) bool
	// AuthExempt lists fully-qualified service names that need no token.
	// Nil means grpc.health.v1.Health and both server reflection services, so
	// probes and grpcurl work; an empty non-nil slice exempts nothing.
	AuthExempt []string

	// NoRequestIDHeader stops sending the request ID back as an
	// x-request-id response header (it is still read, generated and put in
	// the context). The header is on by default, as in the HTTP middleware;
	// a unique value per call defeats HPACK indexing and costs both sides
	// CPU (measured in docs/grpc.md).
	NoRequestIDHeader bool

	// StreamWorkers is how many goroutines the server keeps to run incoming
	// streams (grpc.NumStreamWorkers); a stream that finds none idle gets a
	// goroutine of its own, so the value bounds nothing. Zero means
	// DefaultStreamWorkers; a negative value turns the workers off (a new
	// goroutine per stream, grpc-go's default).
	//
	// Why: a new goroutine starts with a small stack, and a unary call
	// through grpc-go grows it (runtime.copystack) — 15–20% of server CPU
	// per call in profiles of a bare grpc-go server; a reused worker keeps
	// its grown stack until a GC shrinks it. 32 was the best of 8…256
	// for 50 concurrent streams on one core (docs/grpc.md): more idle
	// workers are each shrunk at every GC and grow again when next used.
	StreamWorkers int

	// NoReflection turns server reflection off. It is on by default.
	NoReflection bool

	// Ingest, when set, registers hotpath.v1.IngestService (and its gateway
	// route POST /v1/ingest) storing events through this Batcher. Nil: the
	// service is not registered (UNIMPLEMENTED, 404 on the gateway). The
	// Server never closes the Batcher.
	Ingest *ingest.Batcher

	// Ready, when set, makes grpc.health.v1 follow it: the Server's
	// services report SERVING only while Ready returns true (and SetServing
	// has not turned them off), on grpc-go's transport and through
	// ServeHTTP alike. From the first Serve or ServeHTTP until Stop,
	// GracefulStop or Shutdown, a goroutine checks it every 250 ms, so a
	// change shows within about that; a Server served this way must be
	// stopped to end it. Ready must be fast and safe for concurrent use.
	// hotpath serve passes service.Readiness.Ready (draining, the ingest
	// sink): the same answer as /readyz. Nil: health follows SetServing
	// only.
	Ready func() bool

	// Now is TimeService's clock. Nil means time.Now.
	Now func() time.Time

	// OnPanic, when set, is called with the method, the recovered value and
	// the stack of every handler panic (which the client sees as INTERNAL).
	// It must be safe for concurrent use. Nil: panics are only counted by
	// metrics under code Internal.
	OnPanic func(method string, recovered any, stack []byte)

	// UnaryInterceptors and StreamInterceptors run after the built-in chain
	// (request ID → metrics → recovery → auth → deadline), on gRPC and, for
	// unary ones, on gateway calls too. The slices are copied.
	UnaryInterceptors  []grpc.UnaryServerInterceptor
	StreamInterceptors []grpc.StreamServerInterceptor

	// TracerProvider, if not nil, turns on OpenTelemetry tracing: a SERVER
	// span per call with the rpc.* attributes (otelgrpc's stats handler, on
	// grpc-go's transport and ServeHTTP alike), and on gateway calls the
	// same span, a child of the span in the call's context (the HTTP
	// request's), so one trace covers both. Propagator extracts the parent
	// from the call's metadata (nil: tracecontext and baggage). Nil: no
	// stats handler at all.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator

	// ServerOptions are appended after the options built from this Config,
	// so they win where grpc-go lets a later option override an earlier one.
	ServerOptions []grpc.ServerOption
}

// defaultAuthExempt is the AuthExempt used when the field is nil.
var defaultAuthExempt = []string{
	"grpc.health.v1.Health",
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("rpc config: %s is %d, must be >= 0", name, v))
		}
	}
	neg("MaxRecvMsgSize", int64(c.MaxRecvMsgSize))
	neg("MaxSendMsgSize", int64(c.MaxSendMsgSize))
	neg("KeepaliveMinTime", int64(c.KeepaliveMinTime))
	neg("KeepaliveTime", int64(c.KeepaliveTime))
	neg("KeepaliveTimeout", int64(c.KeepaliveTimeout))
	neg("MaxConnectionIdle", int64(c.MaxConnectionIdle))
	neg("Timeout", int64(c.Timeout))
	neg("WriteTimeout", int64(c.WriteTimeout))
	neg("InitialWindowSize", int64(c.InitialWindowSize))
	neg("InitialConnWindowSize", int64(c.InitialConnWindowSize))
	for _, w := range []struct {
		name string
		v    int32
	}{{"InitialWindowSize", c.InitialWindowSize}, {"InitialConnWindowSize", c.InitialConnWindowSize}} {
		if w.v > 0 && w.v < 65535 {
			errs = append(errs, fmt.Errorf("rpc config: %s is %d, must be 0 or >= 65535 (grpc-go ignores smaller windows)", w.name, w.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if c.MaxRecvMsgSize == 0 {
		c.MaxRecvMsgSize = DefaultMaxMsgSize
	}
	if c.MaxSendMsgSize == 0 {
		c.MaxSendMsgSize = DefaultMaxMsgSize
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.MaxHeaderListSize == 0 {
		c.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if c.InitialWindowSize == 0 {
		c.InitialWindowSize = DefaultInitialWindowSize
	}
	if c.InitialConnWindowSize == 0 {
		c.InitialConnWindowSize = DefaultInitialConnWindow
	}
	switch {
	case c.MaxInFlight == 0:
		c.MaxInFlight = DefaultMaxInFlight
	case c.MaxInFlight < 0:
		c.MaxInFlight = 0 // no cap
	}
	if c.KeepaliveMinTime == 0 {
		c.KeepaliveMinTime = DefaultKeepaliveMinTime
	}
	if c.KeepaliveTime == 0 {
		c.KeepaliveTime = DefaultKeepaliveTime
	}
	if c.KeepaliveTimeout == 0 {
		c.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if c.StreamWorkers == 0 {
		c.StreamWorkers = DefaultStreamWorkers
	}
	if c.AuthExempt == nil {
		c.AuthExempt = defaultAuthExempt
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.UnaryInterceptors = append([]grpc.UnaryServerInterceptor(nil), c.UnaryInterceptors...)
	c.StreamInterceptors = append([]grpc.StreamServerInterceptor(nil), c.StreamInterceptors...)
	return c, nil
}

// stack is debug.Stack, a variable so tests need not depend on its output.
var stack = debug.Stack
