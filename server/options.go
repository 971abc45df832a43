package server

import (
	"io"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/service"
	"github.com/hotpath-dev/hotpath/tracing"
)

// Option customises an engine's New (any engine's: they all build on
// NewRuntime) beyond Config: things that are not declarative settings
// (loggers, writers, shared state, a given listener). An option the engine
// cannot honour makes New fail with ErrUnsupported.
type Option func(*options)

type options struct {
	ln        net.Listener
	log       *slog.Logger
	accessOut io.Writer
	reg       *prometheus.Registry
	ready     *service.Readiness
	shared    *SharedPort

	tracing    *tracing.Provider
	tracingSet bool
}

// WithTracing makes the engine trace with p instead of building a provider
// from Config's tracing fields (which are then only validated); nil turns
// tracing off. The caller owns p: it shuts it down after Run returns. The
// hook for sharing one provider with a gRPC server (package serve).
func WithTracing(p *tracing.Provider) Option {
	return func(o *options) { o.tracing, o.tracingSet = p, true }
}

// WithLogger sets the logger for start-up, shutdown, recovered panics and
// net/http's own errors. Default: discard (library code never logs
// globally).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithAccessLogOutput sets where the access log goes when Config.AccessLog
// is on. Default: os.Stderr.
func WithAccessLogOutput(w io.Writer) Option { return func(o *options) { o.accessOut = w } }

// WithRegistry sets the Prometheus registry for the HTTP metrics and the
// admin /metrics endpoint. Default: a fresh NewRegistry().
func WithRegistry(reg *prometheus.Registry) Option { return func(o *options) { o.reg = reg } }

// WithListener makes Listen and Run serve public traffic on ln instead of
// binding Config.Addr: the hook for a shared port (e.g. the HTTP side of a
// gRPC/HTTP connection splitter). The Runtime caps ln at
// Config.MaxConnections, wraps it in TLS when configured, still binds the
// admin address, reports ln's address as Addr, and closes ln at shutdown or
// when Run fails. Engines that bind their own listener (nbio) refuse it.
func WithListener(ln net.Listener) Option { return func(o *options) { o.ln = ln } }

// WithReadiness shares a readiness state (e.g. with a gRPC health server).
// Default: a fresh one.
func WithReadiness(r *service.Readiness) Option { return func(o *options) { o.ready = r } }
