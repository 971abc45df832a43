package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/filelog"
	"github.com/hotpath-dev/hotpath/internal/policy"
	"github.com/hotpath-dev/hotpath/tracing"
)

// Defaults applied by Config.WithDefaults to zero-valued fields. Each value
// is explained in docs/serve.md.
const (
	DefaultAddr      = ":8080"
	DefaultAdminAddr = "127.0.0.1:6060"
	// DefaultKafkaDeliveryTimeout is IngestKafkaDeliveryTimeout's default:
	// kafkasink.DefaultDeliveryTimeout (a test holds them equal; server
	// does not link the Kafka client for a constant).
	DefaultKafkaDeliveryTimeout = 5 * time.Second
	DefaultReadHeaderTimeout    = 5 * time.Second
	DefaultReadTimeout          = 15 * time.Second
	DefaultWriteTimeout         = 20 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultRequestTimeout       = 15 * time.Second
	DefaultShutdownTimeout      = 20 * time.Second
	DefaultMaxHeaderBytes       = 16 << 10
	DefaultMaxBodyBytes         = 1 << 20
	DefaultMaxConnections       = 10000
	DefaultMaxInFlight          = 1024
	DefaultH2MaxStreams         = 100
	DefaultAccessLogFormat      = "text"
	DefaultAccessLogSample      = 1
	DefaultRealm                = "hotpath"
	// AdminOff as AdminAddr disables the admin listener.
	AdminOff = "off"
	// IngestOff as IngestSink mounts no ingest route (the zero value's
	// meaning).
	IngestOff = "off"
)

// ErrInvalidConfig is wrapped by every error from Config.Validate and New
// that is caused by the configuration (a bad value, an unreadable TLS file).
var ErrInvalidConfig = errors.New("invalid server config")

// Config is the whole declarative configuration of a hotpath server. It is
// engine-agnostic: it names no net/http type, so every engine accepts it.
// The zero value of every field means its documented default (see the
// Default* constants); Durations that may be disabled say so.
type Config struct {
	// Addr is the public listener's address (default ":8080").
	Addr string
	// AdminAddr is the admin listener's address (pprof and /metrics),
	// default "127.0.0.1:6060"; "off" disables it. An address that is not
	// loopback requires AdminToken.
	AdminAddr string
	// AdminToken is the bearer token the admin listener requires; empty
	// means no token, which is only allowed on a loopback AdminAddr.
	AdminToken string

	// TLSCert and TLSKey are PEM files; set both to serve HTTPS with ALPN
	// h2 and http/1.1. TLSSelfSigned instead makes an in-memory ECDSA
	// certificate for localhost (local use only).
	TLSCert, TLSKey string
	TLSSelfSigned   bool
	// H2C enables HTTP/2 over cleartext with prior knowledge beside HTTP/1.1.
	// HTTP/2 (h2c, or over TLS) goes through portmux's flood guard (GOAWAY
	// ENHANCE_YOUR_CALM for SETTINGS, PING, rapid-reset and CONTINUATION
	// floods) on every port: the Runtime puts it in front of a port it binds
	// (see Runtime), and a WithSharedPort port has it from its splitter.
	H2C bool
	// H2MaxConcurrentStreams caps streams per HTTP/2 connection (default 100).
	H2MaxConcurrentStreams int

	// ReadHeaderTimeout bounds reading request headers (default 5s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default 15s).
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response (default 20s; keep it above RequestTimeout).
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long (default 120s).
	IdleTimeout time.Duration
	// RequestTimeout is each request's context deadline; a handler that
	// has not answered by then gets 503 (default 15s; negative disables).
	RequestTimeout time.Duration

	// MaxHeaderBytes caps request header size; over it clients get 431
	// (default 16 KiB; net/http allows 4 KiB of slack on top).
	MaxHeaderBytes int
	// MaxBodyBytes caps request body size; over it clients get 413
	// (default 1 MiB).
	MaxBodyBytes int64
	// MaxConnections caps open public connections; more wait in the
	// kernel's accept queue (default 10000; never unbounded).
	MaxConnections int
	// MaxInFlight caps concurrently handled requests; more get 503 with
	// Retry-After at once instead of queueing (default 1024).
	MaxInFlight int

	// DrainDelay is how long readiness reports 503 before the listener
	// stops accepting, so load balancers notice first (default 0).
	DrainDelay time.Duration
	// ShutdownTimeout bounds waiting for in-flight requests at shutdown
	// (default 20s).
	ShutdownTimeout time.Duration

	// AccessLog turns on the structured access log (off by default).
	AccessLog bool
	// AccessLogFormat is "text" (default) or "json".
	AccessLogFormat string
	// AccessLogSample logs one request in N (default 1: every request).
	AccessLogSample int

	// CORSOrigins lists allowed origins ("*" for any); empty disables CORS.
	CORSOrigins []string
	// RateLimit is the allowed requests per second per client IP; 0
	// disables rate limiting.
	RateLimit float64
	// RateBurst is the token bucket size (default: RateLimit rounded up,
	// at least 1).
	RateBurst int
	// AuthTokens are accepted bearer tokens; empty disables auth.
	AuthTokens []string
	// AuthRoutes are the URL paths that require a token ("/echo"; a path
	// ending in "/" covers its subtree; "*" covers every path except the
	// probes /healthz and /readyz, which carry no token). Empty with
	// AuthTokens set means "*". hotpath serve applies the same routes to
	// gRPC methods by their path, "/package.Service/Method".
	AuthRoutes []string

	// IngestSink is where POST /ingest (and gRPC IngestService) store
	// events, as a URI of package ingest/sinkuri: "file:DIR" (hotpath's
	// embedded log), "kafka://HOST:PORT[,HOST:PORT…]/TOPIC", or "off".
	// Empty means off: no ingest route, so a Go program that builds a
	// server never writes files it did not ask for; hotpath serve's flag
	// defaults to "file:hotpath-data" (relative to the working directory).
	IngestSink string
	// IngestBatchSize is the most events one sink write carries (default
	// 16, the seed's batch size).
	IngestBatchSize int
	// IngestBatchWait is the longest the oldest event of a batch waits
	// before the batch is written (default 5ms, the seed's).
	IngestBatchWait time.Duration
	// IngestQueue caps the events accepted and not yet answered; beyond
	// it POST /ingest answers 503 with Retry-After at once (default 4096).
	// It must be at least IngestBatchSize.
	IngestQueue int
	// IngestMaxEventBytes is the largest event accepted; larger ones get
	// 413 (default 64 KiB). The request body limit (MaxBodyBytes) applies
	// too: the smaller of the two wins on HTTP.
	IngestMaxEventBytes int
	// IngestUnreadyAfter is how long the sink must fail continuously
	// before /readyz answers 503 (default 5s); it recovers by itself.
	IngestUnreadyAfter time.Duration
	// IngestFsync is the file sink's fsync policy: "batch" (default:
	// fsync before each batch is acknowledged) or "never" (UNSAFE: what
	// was acknowledged survives a crash of the process, not of the
	// machine). Kafka sinks ignore it.
	IngestFsync string
	// IngestKafkaDeliveryTimeout bounds how long a batch may wait for the
	// Kafka cluster's acknowledgement before its events get 503 (default
	// 5s, at least 1s: the Kafka client refuses less). File sinks ignore
	// it.
	IngestKafkaDeliveryTimeout time.Duration
	// IngestFormat is what an event must be (package ingest's Format):
	// "raw" (default: any bytes, stored as sent) or "json" (one JSON value,
	// stored compacted; anything else gets 400 / INVALID_ARGUMENT): the
	// seed's "format transform" stage.
	IngestFormat string

	// OTLPEndpoint is the OTLP collector's URL ("http://collector:4318");
	// setting it turns OpenTelemetry tracing on (package tracing). Empty:
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT;
	// none set means tracing is off (the default, at no cost per request).
	OTLPEndpoint string
	// OTLPProtocol is "grpc" or "http/protobuf". Empty:
	// OTEL_EXPORTER_OTLP_PROTOCOL, then http/protobuf.
	OTLPProtocol string
	// TraceSampler and TraceSamplerArg are OTEL_TRACES_SAMPLER's names and
	// argument (e.g. parentbased_traceidratio and 0.01). Empty: those
	// variables, then parentbased_always_on.
	TraceSampler, TraceSamplerArg string
	// ServiceName is the traces' service.name. Empty: OTEL_SERVICE_NAME,
	// then "hotpath".
	ServiceName string
	// TraceResponseHeader makes every traced response carry its span's
	// traceparent (off by default).
	TraceResponseHeader bool
}

// TracingConfig is the part of c that configures package tracing.
func (c Config) TracingConfig() tracing.Config {
	return tracing.Config{
		Endpoint:    c.OTLPEndpoint,
		Protocol:    c.OTLPProtocol,
		Sampler:     c.TraceSampler,
		SamplerArg:  c.TraceSamplerArg,
		ServiceName: c.ServiceName,
	}
}

// WithDefaults returns a copy of c with every zero-valued field set to its
// default. It does not validate.
func (c Config) WithDefaults() Config {
	setStr := func(p *string, d string) {
		if *p == "" {
			*p = d
		}
	}
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setStr(&c.Addr, DefaultAddr)
	setStr(&c.AdminAddr, DefaultAdminAddr)
	setStr(&c.AccessLogFormat, DefaultAccessLogFormat)
	setDur(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&c.ReadTimeout, DefaultReadTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.RequestTimeout, DefaultRequestTimeout)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setInt(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setInt(&c.MaxConnections, DefaultMaxConnections)
	setInt(&c.MaxInFlight, DefaultMaxInFlight)
	setInt(&c.H2MaxConcurrentStreams, DefaultH2MaxStreams)
	setInt(&c.AccessLogSample, DefaultAccessLogSample)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	setStr(&c.IngestSink, IngestOff)
	setInt(&c.IngestBatchSize, ingest.DefaultBatchSize)
	setDur(&c.IngestBatchWait, ingest.DefaultBatchWait)
	setInt(&c.IngestQueue, ingest.DefaultQueue)
	setInt(&c.IngestMaxEventBytes, ingest.DefaultMaxEventBytes)
	setDur(&c.IngestUnreadyAfter, ingest.DefaultUnreadyAfter)
	setStr(&c.IngestFsync, filelog.FsyncBatch.String())
	setDur(&c.IngestKafkaDeliveryTimeout, DefaultKafkaDeliveryTimeout)
	setStr(&c.IngestFormat, ingest.FormatRaw.String())
	if c.RateLimit > 0 && c.RateBurst == 0 {
		c.RateBurst = max(1, int(c.RateLimit+0.999999))
	}
	if len(c.AuthTokens) > 0 && len(c.AuthRoutes) == 0 {
		c.AuthRoutes = []string{"*"}
	}
	return c
}

// Validate checks c after applying defaults and returns the first problem,
// naming the field, as an error wrapping ErrInvalidConfig. The message is
// always one line, whatever the values hold.
func (c Config) Validate() error {
	return asOneLine(c.validate())
}

func (c Config) validate() error {
	c = c.WithDefaults()
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("addr", "%q is not host:port: %v", c.Addr, err)
	}
	if c.AdminAddr != AdminOff {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			return bad("admin-addr", "%q is not host:port: %v", c.AdminAddr, err)
		}
		if _, port, _ := net.SplitHostPort(c.AdminAddr); c.AdminAddr == c.Addr && port != "0" {
			return bad("admin-addr", "%q is the public address; the admin listener must be separate", c.AdminAddr)
		}
		if c.AdminToken == "" && !IsLoopback(c.AdminAddr) {
			return bad("admin-token", "admin address %q is not loopback, so an admin token is required (or bind it to 127.0.0.1)", c.AdminAddr)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return bad("tls-cert/tls-key", "set both or neither")
	}
	if c.TLSSelfSigned && c.TLSCert != "" {
		return bad("tls-self-signed", "conflicts with tls-cert/tls-key")
	}
	if c.H2C && (c.TLSSelfSigned || c.TLSCert != "") {
		return bad("h2c", "conflicts with TLS, where HTTP/2 is negotiated by ALPN")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"read-header-timeout", c.ReadHeaderTimeout}, {"read-timeout", c.ReadTimeout},
		{"write-timeout", c.WriteTimeout}, {"idle-timeout", c.IdleTimeout},
		{"shutdown-timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			return bad(d.name, "%v is negative", d.v)
		}
	}
	if c.DrainDelay < 0 {
		return bad("drain-delay", "%v is negative", c.DrainDelay)
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"max-header-bytes", int64(c.MaxHeaderBytes)}, {"max-body-bytes", c.MaxBodyBytes},
		{"max-connections", int64(c.MaxConnections)}, {"max-inflight", int64(c.MaxInFlight)},
		{"h2-max-concurrent-streams", int64(c.H2MaxConcurrentStreams)},
		{"access-log-sample", int64(c.AccessLogSample)}, {"rate-burst", int64(c.RateBurst)},
	} {
		if n.v < 0 {
			return bad(n.name, "%d is negative", n.v)
		}
	}
	if c.AccessLogFormat != "text" && c.AccessLogFormat != "json" {
		return bad("access-log-format", "%q is not text or json", c.AccessLogFormat)
	}
	if c.RateLimit < 0 {
		return bad("rate-limit", "%v is negative", c.RateLimit)
	}
	for _, r := range c.AuthRoutes {
		if r != "*" && !strings.HasPrefix(r, "/") {
			return bad("auth-routes", "%q is not a path starting with / (or *)", r)
		}
	}
	for _, tok := range c.AuthTokens {
		if tok == "" {
			return bad("auth-token", "empty token")
		}
	}
	if err := c.TracingConfig().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c.validateIngest(bad)
}

// validateIngest checks the Ingest* fields (after WithDefaults). The sink
// URI's scheme is checked here so that --print-config refuses it too; the
// rest of the URI is checked when the sink is opened (package serve).
func (c Config) validateIngest(bad func(field, format string, args ...any) error) error {
	sink := c.IngestSink
	switch {
	case sink == IngestOff:
	case strings.HasPrefix(sink, "file:"):
		if sink == "file:" {
			return bad("ingest-sink", "%q names no directory (file:DIR)", sink)
		}
	case strings.HasPrefix(sink, "kafka://"):
	default:
		return bad("ingest-sink", "%q: unknown sink (want file:DIR, kafka://HOST:PORT/TOPIC or off)", sink)
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"batch-size", int64(c.IngestBatchSize)}, {"ingest-queue", int64(c.IngestQueue)},
		{"ingest-max-event-bytes", int64(c.IngestMaxEventBytes)},
	} {
		if n.v < 0 {
			return bad(n.name, "%d is negative", n.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"batch-wait", c.IngestBatchWait}, {"ingest-unready-after", c.IngestUnreadyAfter}} {
		if d.v < 0 {
			return bad(d.name, "%v is negative", d.v)
		}
	}
	if c.IngestKafkaDeliveryTimeout < time.Second {
		return bad("kafka-delivery-timeout", "%v is under 1s (the Kafka client's least)", c.IngestKafkaDeliveryTimeout)
	}
	if c.IngestBatchSize > c.IngestQueue {
		return bad("batch-size", "%d is larger than --ingest-queue %d (a batch could never fill)", c.IngestBatchSize, c.IngestQueue)
	}
	if _, err := filelog.ParseFsync(c.IngestFsync); err != nil {
		return bad("fsync", "%q is not batch or never", c.IngestFsync)
	}
	if _, err := ingest.ParseFormat(c.IngestFormat); err != nil {
		return bad("ingest-format", "%q is not raw or json", c.IngestFormat)
	}
	return nil
}

// oneLineError prints its error with control characters escaped: values
// from flags and environment variables end up in messages, and the CLI
// prints an error as its one line. It keeps the wrapped chain.
type oneLineError struct{ err error }

func (e oneLineError) Error() string { return oneLine(e.err.Error()) }
func (e oneLineError) Unwrap() error { return e.err }

func asOneLine(err error) error {
	if err == nil {
		return nil
	}
	return oneLineError{err}
}

func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// IsLoopback reports whether the host of addr (host:port) is a loopback IP
// or "localhost". An empty host means every interface and is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// AuthRequired reports whether path is covered by routes, as documented on
// Config.AuthRoutes (pass the routes after WithDefaults): "*" covers every
// path except /healthz and /readyz, a route ending in "/" covers its
// subtree, any other route covers itself only. A gRPC call's path is
// "/package.Service/Method", so the same routes can guard gRPC methods.
func AuthRequired(routes []string, path string) bool {
	return policy.AuthRequired(routes, path)
}
