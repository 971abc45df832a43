// Package loadgen is hotpath's load generator: closed-loop (N connections as
// fast as they go) and open-loop (a fixed rate for the whole run, latency
// corrected for coordinated omission) load over HTTP/1.1, HTTP/2 over TLS and
// h2c, with one HDR histogram per worker and no per-request allocation on
// the HTTP/1.1 path. Run returns a report.Result.
//
// # Extension point: transports
//
// A protocol is a Transport: Open dials one connection and returns the
// Clients (one per concurrent request slot) that share it, and each Client's
// Do sends one request and fills an Outcome. Set Config.Transport to load a
// target over another protocol; a gRPC unary transport belongs in its own
// file of this package (for example grpc.go) implementing Transport, and the
// runner, pacing, warm-up, histograms and cost meter apply unchanged.
package loadgen

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Defaults applied by Run to zero fields of Config.
const (
	DefaultConnections = 10
	DefaultDuration    = 10 * time.Second
	DefaultTimeout     = 10 * time.Second
)

// ErrConfig is wrapped by every error Run returns for an invalid Config.
var ErrConfig = errors.New("invalid load test")

// ErrUnreachable is wrapped by the error Run returns when it cannot open
// the first connection to the target: nothing was measured.
var ErrUnreachable = errors.New("target unreachable")

// Header is one request header field.
type Header struct{ Name, Value string }

// ParseHeader parses a "Name: value" header flag. The name must be an HTTP
// token and the value must not contain control characters (CR, LF, NUL).
func ParseHeader(s string) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return Header{}, fmt.Errorf("header %q: want \"Name: value\"", s)
	}
	value = strings.TrimSpace(value)
	if !httpguts.ValidHeaderFieldName(name) {
		return Header{}, fmt.Errorf("header %q: invalid field name %q", s, name)
	}
	if !httpguts.ValidHeaderFieldValue(value) {
		return Header{}, fmt.Errorf("header %q: invalid characters in value", s)
	}
	return Header{Name: name, Value: value}, nil
}

// Config describes one load test. The zero value of each field is the
// documented default; Run validates the whole config before any traffic.
type Config struct {
	// URL is the target, http:// or https://. Required.
	URL string
	// Method is the request method; default GET.
	Method string
	// Headers are sent with every request, after Host and User-Agent
	// (which they override when they name them).
	Headers []Header
	// Body is sent with every request. Run does not modify it.
	Body []byte

	// Connections is the number of connections; default DefaultConnections.
	Connections int
	// Streams is the number of concurrent requests per HTTP/2 connection;
	// default 1. Only valid with HTTP2 or H2C.
	Streams int

	// Requests stops the run after this many measured requests (after
	// warm-up); 0 means no count limit.
	Requests uint64
	// Duration is the measured time after warm-up; 0 means DefaultDuration
	// when Requests is 0 and no time limit otherwise. At the end the closed
	// loop abandons requests in flight (they are not counted); the open loop
	// stops scheduling and waits for every request it scheduled.
	Duration time.Duration
	// Warmup is run first and excluded from every result.
	Warmup time.Duration
	// Rate > 0 selects the open loop: Rate requests per second for the whole
	// run (not per connection), latency measured from each request's
	// intended send time. 0 selects the closed loop.
	Rate float64
	// Timeout bounds each request (including connecting); default
	// DefaultTimeout.
	Timeout time.Duration

	// DisableKeepAlive opens a new connection for every request (HTTP/1.1).
	DisableKeepAlive bool
	// HTTP2 uses HTTP/2 over TLS, negotiated with ALPN; the URL must be https.
	HTTP2 bool
	// H2C uses HTTP/2 over cleartext TCP (prior knowledge); the URL must be http.
	H2C bool
	// Insecure skips TLS certificate verification.
	Insecure bool
	// RootCAs verifies https targets' certificates; nil means the system
	// roots. The name checked is the URL's host (a Host header does not
	// change it). Run does not modify the pool.
	RootCAs *x509.CertPool

	// ServerPID, when > 0, adds that process's CPU time per request and peak
	// RSS to the result (Linux /proc).
	ServerPID int

	// Transport replaces the built-in HTTP transports (see the package
	// documentation); URL, Method, Headers and Body are then only recorded.
	Transport Transport

	// Progress, when non-nil, is called about every ProgressEvery from a
	// goroutine of Run with the numbers so far. It must return quickly.
	Progress func(Progress)
	// ProgressEvery is the progress interval; default 1s.
	ProgressEvery time.Duration

	// clock, when set by tests, replaces the run's monotonic clock.
	clock func() time.Duration
}

// Progress is a live view of a running test.
type Progress struct {
	Elapsed  time.Duration // since the start, warm-up included
	Warmup   bool          // still warming up
	Requests uint64        // measured so far
	Errors   uint64
	RPS      float64 // over the measured time so far
	P99      time.Duration
}

// target is a validated URL split for the transports.
type target struct {
	scheme, host, addr, requestURI string
	hostname                       string // the URL's host without port: the TLS server name
}

// check validates c, fills defaults into a copy and parses the URL.
func (c Config) check() (Config, target, error) {
	bad := func(format string, args ...any) (Config, target, error) {
		return c, target{}, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.Method == "" {
		c.Method = "GET"
	}
	if !httpguts.ValidHeaderFieldName(c.Method) { // a method is a token too
		return bad("method %q is not a valid HTTP token", c.Method)
	}
	if c.Connections == 0 {
		c.Connections = DefaultConnections
	}
	if c.Connections < 0 {
		return bad("connections must be > 0, got %d", c.Connections)
	}
	if c.Streams == 0 {
		c.Streams = 1
	}
	if c.Streams < 0 {
		return bad("streams must be > 0, got %d", c.Streams)
	}
	if c.Streams > 1 && !c.HTTP2 && !c.H2C && c.Transport == nil {
		return bad("streams > 1 needs HTTP/2 (--http2 or --h2c)")
	}
	if c.Duration < 0 || c.Warmup < 0 || c.Timeout < 0 {
		return bad("durations must not be negative")
	}
	if c.Duration == 0 && c.Requests == 0 {
		c.Duration = DefaultDuration
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Rate < 0 || c.Rate != c.Rate || c.Rate > 1e9 {
		return bad("rate must be > 0 requests/s, got %v", c.Rate)
	}
	if c.HTTP2 && c.H2C {
		return bad("choose one of HTTP/2 over TLS and h2c")
	}
	if c.DisableKeepAlive && (c.HTTP2 || c.H2C) {
		return bad("disabling keep-alive is for HTTP/1.1 only")
	}
	for _, h := range c.Headers {
		if !httpguts.ValidHeaderFieldName(h.Name) || !httpguts.ValidHeaderFieldValue(h.Value) {
			return bad("invalid header %q", h.Name)
		}
		// The transports frame the body themselves; a header framing it
		// differently would desynchronise HTTP/1.1 connections (the rest
		// of the body read as the next request) or stall every request
		// until the timeout.
		switch {
		case strings.EqualFold(h.Name, "Transfer-Encoding"):
			return bad("header %s: not supported; bench sends the body with a Content-Length", h.Name)
		case strings.EqualFold(h.Name, "Content-Length"):
			if n, err := strconv.ParseUint(h.Value, 10, 63); err != nil || n != uint64(len(c.Body)) {
				return bad("header %s: %q does not match the %d-byte body; leave it out, bench sets it", h.Name, h.Value, len(c.Body))
			}
		}
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return bad("URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("URL %q: scheme must be http or https", c.URL)
	}
	if u.Host == "" || u.Hostname() == "" {
		return bad("URL %q has no host", c.URL)
	}
	if u.User != nil {
		return bad("URL %q: user info is not supported; send an Authorization header", c.URL)
	}
	if c.HTTP2 && u.Scheme != "https" {
		return bad("HTTP/2 over TLS needs an https URL; use --h2c for cleartext")
	}
	if c.H2C && u.Scheme != "http" {
		return bad("h2c needs an http URL")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	t := target{
		scheme:     u.Scheme,
		host:       u.Host,
		addr:       joinHostPort(u.Hostname(), port),
		requestURI: u.RequestURI(),
		hostname:   u.Hostname(),
	}
	return c, t, nil
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// Transport opens connections to the target (see the package doc).
type Transport interface {
	// Name is the protocol recorded in results, e.g. "http/1.1" or "h2".
	Name() string
	// Open dials one connection and returns the clients sharing it, one per
	// concurrent request slot. Cancelling ctx must abort every Do in
	// progress on those clients promptly.
	Open(ctx context.Context) ([]Client, error)
}

// Client sends requests on one request slot. Do is never called
// concurrently on one Client; Close is called once, after the last Do.
type Client interface {
	// Do sends one request, waits for the complete response and fills out
	// (which it resets first). Failures are data: they go into out.Err,
	// and the client reconnects on the next call as needed.
	Do(ctx context.Context, out *Outcome)
	Close() error
}

// Outcome is the result of one Do.
type Outcome struct {
	Status   int   // protocol status (HTTP status code); 0 when Err is set
	BytesIn  int64 // bytes received
	BytesOut int64 // bytes sent
	Err      error // transport failure, nil when a response arrived
}

// Validate reports whether c describes a load test Run can start: the same
// checks Run makes before any traffic, without touching the network. The
// error wraps ErrConfig.
func (c Config) Validate() error {
	_, _, err := c.check()
	return err
}
