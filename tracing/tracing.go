// Package tracing sets up OpenTelemetry tracing for hotpath: an SDK tracer
// provider exporting over OTLP (gRPC or HTTP/protobuf) through a bounded
// batch queue, the W3C tracecontext and baggage propagators, and a resource
// naming the service. It is off unless an endpoint is configured (a Config
// field or the standard OTEL_* environment); engines then add no span at all.
// The spans themselves are made by the engines' policy chain and by package
// rpc (otelgrpc).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Protocols accepted by Config.Protocol (OTEL_EXPORTER_OTLP_PROTOCOL's
// values; "http/json" is not offered by the Go exporters).
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Defaults.
const (
	// DefaultProtocol is the OTLP specification's default.
	DefaultProtocol = ProtocolHTTP
	// DefaultServiceName is service.name when neither Config.ServiceName
	// nor OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES name one.
	DefaultServiceName = "hotpath"
	// DefaultMaxQueueSize is the most ended spans held for export (queued
	// or being exported); more are dropped and counted. The SDK's default.
	DefaultMaxQueueSize = sdktrace.DefaultMaxQueueSize
	// DefaultShutdownTimeout bounds Close's final flush.
	DefaultShutdownTimeout = 5 * time.Second
)

// Config says where and how spans are exported. Every empty field falls
// back to the standard OpenTelemetry environment variable named on it, then
// to its default: a field set here wins over the environment. The zero
// value with no OTEL_* variables set means tracing is off.
type Config struct {
	// Endpoint is the OTLP collector's base URL ("http://collector:4318"
	// for HTTP, "http://collector:4317" for gRPC; https for TLS). For HTTP
	// an empty path becomes /v1/traces, as for OTEL_EXPORTER_OTLP_ENDPOINT.
	// Empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then
	// OTEL_EXPORTER_OTLP_ENDPOINT; none of the three set means tracing is
	// off (unless Exporter is set).
	Endpoint string
	// Protocol is ProtocolGRPC or ProtocolHTTP. Empty:
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL,
	// then DefaultProtocol.
	Protocol string
	// Sampler is one of OTEL_TRACES_SAMPLER's values: always_on,
	// always_off, traceidratio, parentbased_always_on,
	// parentbased_always_off, parentbased_traceidratio. SamplerArg is the
	// ratio (0 to 1) of the traceidratio samplers. Empty: OTEL_TRACES_SAMPLER
	// and OTEL_TRACES_SAMPLER_ARG, then parentbased_always_on (and ratio 1).
	Sampler, SamplerArg string
	// ServiceName is the resource's service.name. Empty: OTEL_SERVICE_NAME,
	// then service.name in OTEL_RESOURCE_ATTRIBUTES, then
	// DefaultServiceName. OTEL_RESOURCE_ATTRIBUTES' other attributes are
	// always added.
	ServiceName string
	// ServiceVersion is service.version. Empty: the main module's version
	// from the build info, else "dev".
	ServiceVersion string
	// MaxQueueSize caps the ended spans held for export (default
	// DefaultMaxQueueSize); negative is an error.
	MaxQueueSize int
	// Exporter, if not nil, receives the spans instead of an OTLP exporter
	// (tests: sdk/trace/tracetest's in-memory exporter); tracing is then on
	// whatever Endpoint says. The Provider shuts it down.
	Exporter sdktrace.SpanExporter
	// Log receives export failures, at most one line per 30 s (nil:
	// discard). Nothing is ever written to the global logger by this
	// package; the OTel SDK's global error handler is not called for
	// export failures either (they are counted instead).
	Log *slog.Logger
}

func (Config) getenv(k string) string { return os.Getenv(k) }

// endpoint returns the configured endpoint and where it came from: the
// flag ("otlp-endpoint") or the variable's name.
func (c Config) endpoint() (ep, from string) {
	if c.Endpoint != "" {
		return c.Endpoint, "otlp-endpoint"
	}
	if v := c.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		return v, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	}
	return c.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTEL_EXPORTER_OTLP_ENDPOINT"
}

// Enabled reports whether c turns tracing on: Exporter is set, or an
// endpoint is (in c or the environment) and the environment does not turn
// the SDK off (OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, both
// overridden by c.Endpoint).
func (c Config) Enabled() bool {
	if c.Exporter != nil || c.Endpoint != "" {
		return true
	}
	if strings.EqualFold(c.getenv("OTEL_SDK_DISABLED"), "true") || c.getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	ep, _ := c.endpoint()
	return ep != ""
}

// protocol resolves Protocol and names where it came from.
func (c Config) protocol() (p, from string) {
	switch {
	case c.Protocol != "":
		return c.Protocol, "otlp-protocol"
	case c.getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") != "":
		return c.getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	case c.getenv("OTEL_EXPORTER_OTLP_PROTOCOL") != "":
		return c.getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	return DefaultProtocol, "default"
}

// Validate checks the values set in c (not the environment, which New
// checks when tracing is on) and names the flag of the bad one
// (otlp-endpoint, otlp-protocol, trace-sampler, trace-sampler-arg).
func (c Config) Validate() error {
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != nil {
			return fmt.Errorf("otlp-endpoint: %w", err)
		}
	}
	if c.Protocol != "" && c.Protocol != ProtocolGRPC && c.Protocol != ProtocolHTTP {
		return fmt.Errorf("otlp-protocol: %q is not %s or %s", c.Protocol, ProtocolGRPC, ProtocolHTTP)
	}
	if c.Sampler != "" || c.SamplerArg != "" {
		name := c.Sampler
		if name == "" {
			name = "parentbased_traceidratio"
		}
		if _, err := ParseSampler(name, c.SamplerArg); err != nil {
			return fmt.Errorf("trace-sampler: %w", err)
		}
	}
	if c.MaxQueueSize < 0 {
		return fmt.Errorf("max queue size %d is negative", c.MaxQueueSize)
	}
	return nil
}

func checkEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", ep, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", ep)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", ep)
	}
	return nil
}

// samplerName resolves the sampler's name and argument from c, then the
// environment, and names where each came from: the flag, the variable, or
// "default".
func (c Config) samplerName() (name, nameFrom, arg, argFrom string) {
	name, arg = c.Sampler, c.SamplerArg
	nameFrom, argFrom = "trace-sampler", "trace-sampler-arg"
	if arg == "" {
		argFrom = "default"
	}
	if name == "" {
		nameFrom = "default"
		if v := c.getenv("OTEL_TRACES_SAMPLER"); v != "" {
			name, nameFrom = v, "OTEL_TRACES_SAMPLER"
		}
		if v := c.getenv("OTEL_TRACES_SAMPLER_ARG"); arg == "" && v != "" {
			arg, argFrom = v, "OTEL_TRACES_SAMPLER_ARG"
		}
	}
	if name == "" {
		name = "parentbased_always_on"
		if arg != "" {
			name = "parentbased_traceidratio"
		}
	}
	return name, nameFrom, arg, argFrom
}

// sampler resolves the sampler from c, then the environment. An error
// names where the bad value came from: the flag or the variable.
func (c Config) sampler() (sdktrace.Sampler, error) {
	name, nameFrom, arg, argFrom := c.samplerName()
	s, err := ParseSampler(name, arg)
	switch {
	case errors.Is(err, errSamplerArg):
		return nil, fmt.Errorf("%s: %w", argFrom, err)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", nameFrom, err)
	}
	return s, nil
}

// Setting is one tracing setting as New resolves it: Name is its flag
// (otlp-endpoint, otlp-protocol, trace-sampler, trace-sampler-arg,
// service-name), Value what New uses, From where it came from: "flag" (the
// Config field), an OTEL_* variable's name, or "default".
type Setting struct{ Name, Value, From string }

// Resolved returns the settings that have a flag as New would resolve them
// from c and the environment, for `hotpath serve --print-config`. An
// endpoint taken from the environment while OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none turn tracing off says so in From. service-name
// reports OTEL_SERVICE_NAME only (a service.name inside
// OTEL_RESOURCE_ATTRIBUTES is the SDK's to read).
func (c Config) Resolved() []Setting {
	flag := func(from, name string) string {
		if from == name {
			return "flag"
		}
		return from
	}
	ep, epFrom := c.endpoint()
	switch {
	case ep == "":
		epFrom = "default"
	case !c.Enabled():
		epFrom += " (ignored: OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none)"
	}
	proto, protoFrom := c.protocol()
	name, nameFrom, arg, argFrom := c.samplerName()
	svc, svcFrom := c.ServiceName, "flag"
	if svc == "" {
		svc, svcFrom = DefaultServiceName, "default"
		if v := c.getenv("OTEL_SERVICE_NAME"); v != "" {
			svc, svcFrom = v, "OTEL_SERVICE_NAME"
		}
	}
	return []Setting{
		{"otlp-endpoint", ep, flag(epFrom, "otlp-endpoint")},
		{"otlp-protocol", proto, flag(protoFrom, "otlp-protocol")},
		{"trace-sampler", name, flag(nameFrom, "trace-sampler")},
		{"trace-sampler-arg", arg, flag(argFrom, "trace-sampler-arg")},
		{"service-name", svc, svcFrom},
	}
}

// errSamplerArg is wrapped by ParseSampler's errors about the argument.
var errSamplerArg = errors.New("bad sampler argument")

// ParseSampler returns the sampler OTEL_TRACES_SAMPLER=name with
// OTEL_TRACES_SAMPLER_ARG=arg names. arg is the ratio, 0 to 1, of the
// traceidratio samplers (empty: 1) and must be empty for the others.
// Written here rather than left to the SDK, which reads only the
// environment and falls back to a default on a bad value: hotpath takes
// the same values from flags and refuses a bad one at start-up.
func ParseSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		var r float64
		if _, err := fmt.Sscan(arg, &r); err != nil || strings.TrimSpace(arg) != arg {
			return 0, fmt.Errorf("%w: %q is not a number", errSamplerArg, arg)
		}
		if !(r >= 0 && r <= 1) { // also NaN
			return 0, fmt.Errorf("%w: %q is not a ratio from 0 to 1", errSamplerArg, arg)
		}
		return r, nil
	}
	noArg := func(s sdktrace.Sampler) (sdktrace.Sampler, error) {
		if arg != "" {
			return nil, fmt.Errorf("%w: sampler %s takes none, got %q", errSamplerArg, name, arg)
		}
		return s, nil
	}
	switch name {
	case "always_on":
		return noArg(sdktrace.AlwaysSample())
	case "always_off":
		return noArg(sdktrace.NeverSample())
	case "parentbased_always_on":
		return noArg(sdktrace.ParentBased(sdktrace.AlwaysSample()))
	case "parentbased_always_off":
		return noArg(sdktrace.ParentBased(sdktrace.NeverSample()))
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("unknown sampler %q (want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)", name)
}

// Provider is a running tracing set-up: the SDK tracer provider, its
// exporter behind a bounded queue, and the propagator. Safe for concurrent
// use. Shut it down (Shutdown or Close) once nothing makes spans any more:
// that flushes what is queued.
type Provider struct {
	tp      *sdktrace.TracerProvider
	sampler sdktrace.Sampler
	prop    propagation.TextMapPropagator
	exp     *countingExporter

	dropped, failed prometheus.Counter
	shutOnce        sync.Once
	shutErr         error
}

// Propagator is W3C tracecontext (traceparent, tracestate) and baggage, the
// propagator every hotpath server uses for incoming requests.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// New starts the tracing c configures and registers its metrics on reg
// (nil: none): hotpath_trace_spans_dropped_total (spans ended while the
// export queue was full) and hotpath_trace_spans_export_failed_total
// (spans whose export failed). It returns (nil, nil) when c does not turn
// tracing on (see Enabled). Errors name the flag or environment variable
// at fault; on error nothing keeps running.
func New(ctx context.Context, c Config, reg prometheus.Registerer) (*Provider, error) {
	if !c.Enabled() {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sampler, err := c.sampler()
	if err != nil {
		return nil, err
	}
	res, err := c.resource(ctx)
	if err != nil {
		return nil, err
	}
	exp := c.Exporter
	if exp == nil {
		if exp, err = c.otlpExporter(ctx); err != nil {
			return nil, err
		}
	}
	sampler = linkedSampler{sampler}
	p := &Provider{
		sampler: sampler,
		prop:    Propagator(),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotpath_trace_spans_dropped_total",
			Help: "Sampled spans dropped because the export queue was full (exporter down or slow).",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotpath_trace_spans_export_failed_total",
			Help: "Spans whose export to the OTLP endpoint failed.",
		}),
	}
	if reg != nil {
		for _, m := range []prometheus.Collector{p.dropped, p.failed} {
			if err := reg.Register(m); err != nil {
				_ = exp.Shutdown(ctx)
				return nil, fmt.Errorf("tracing: register metrics: %w", err)
			}
		}
	}
	maxQ := c.MaxQueueSize
	if maxQ == 0 {
		maxQ = DefaultMaxQueueSize
	}
	stop, cancel := context.WithCancel(context.Background())
	p.exp = &countingExporter{SpanExporter: exp, failed: p.failed, log: c.Log, stop: stop, cancel: cancel}
	bsp := sdktrace.NewBatchSpanProcessor(p.exp,
		sdktrace.WithMaxQueueSize(maxQ),
		sdktrace.WithMaxExportBatchSize(min(sdktrace.DefaultMaxExportBatchSize, maxQ)))
	cp := &countingProcessor{SpanProcessor: bsp, held: &p.exp.held, max: int64(maxQ), dropped: p.dropped}
	p.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sampler),
		sdktrace.WithIDGenerator(idGenerator{}),
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(cp),
	)
	return p, nil
}

// resource is service.name and service.version, OTEL_RESOURCE_ATTRIBUTES
// and OTEL_SERVICE_NAME, and the SDK's own attributes; later sources win.
func (c Config) resource(ctx context.Context) (*resource.Resource, error) {
	version := c.ServiceVersion
	if version == "" {
		version = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	attrs := resource.NewSchemaless(semconv.ServiceName(DefaultServiceName), semconv.ServiceVersion(version))
	// OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, read by the SDK.
	env, err := resource.New(ctx, resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	r, err := resource.Merge(resource.Default(), attrs)
	if err == nil {
		r, err = resource.Merge(r, env)
	}
	if err == nil && c.ServiceName != "" {
		r, err = resource.Merge(r, resource.NewSchemaless(semconv.ServiceName(c.ServiceName)))
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return r, nil
}

// otlpExporter makes the OTLP exporter of c's protocol; the exporter reads
// the rest of the OTEL_EXPORTER_OTLP_* environment itself (headers,
// timeout, TLS files, compression).
func (c Config) otlpExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	proto, from := c.protocol()
	ep, epFrom := c.endpoint()
	if err := checkEndpoint(ep); err != nil {
		return nil, fmt.Errorf("%s: %w", epFrom, err)
	}
	fromConfig := epFrom == "otlp-endpoint"
	switch proto {
	case ProtocolGRPC:
		var opts []otlptracegrpc.Option
		if fromConfig {
			opts = append(opts, otlptracegrpc.WithEndpointURL(ep))
		}
		return otlptracegrpc.New(ctx, opts...)
	case ProtocolHTTP:
		var opts []otlptracehttp.Option
		if fromConfig {
			u, _ := url.Parse(ep) // checked above
			if u.Path == "" || u.Path == "/" {
				u.Path = "/v1/traces"
			}
			opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
		}
		return otlptracehttp.New(ctx, opts...)
	}
	return nil, fmt.Errorf("%s: %q is not %s or %s", from, proto, ProtocolGRPC, ProtocolHTTP)
}

// TracerProvider is the provider engines make their spans with.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// Propagator is the provider's propagator (see the package function).
func (p *Provider) Propagator() propagation.TextMapPropagator { return p.prop }

// ForceFlush exports every span ended so far, or returns ctx's error.
func (p *Provider) ForceFlush(ctx context.Context) error { return p.tp.ForceFlush(ctx) }

// Shutdown flushes the queued spans and stops the exporter; spans ended
// afterwards are discarded. When ctx ends first, exports still running are
// cancelled (so no goroutine outlives the provider for long) and ctx's
// error is returned. Export failures are counted, not returned. Later calls
// return the first call's result.
func (p *Provider) Shutdown(ctx context.Context) error {
	p.shutOnce.Do(func() {
		stop := context.AfterFunc(ctx, p.exp.cancel)
		defer stop()
		p.shutErr = p.tp.Shutdown(ctx)
		p.exp.cancel()
		if p.shutErr != nil {
			p.shutErr = fmt.Errorf("tracing: shutdown: %w", p.shutErr)
		}
	})
	return p.shutErr
}

// Close is Shutdown within DefaultShutdownTimeout, as an io.Closer for a
// server's shutdown: spans it could not flush in time (collector down or
// slow) are logged to Config.Log, not returned, since they say nothing about
// the server's own shutdown. It returns nil.
func (p *Provider) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil && p.exp.log != nil {
		p.exp.log.Warn("tracing: spans not flushed at shutdown", "err", err.Error())
	}
	return nil
}

// countingProcessor hands sampled spans to the batch span processor only
// while fewer than max are held for export, and counts the rest as dropped.
// The SDK's processor drops silently when its queue is full (its
// self-observability metrics are experimental and go to the global
// MeterProvider, not to Prometheus): holding at most max spans (queued,
// batched or being exported) keeps its queue, of size max, from ever
// overflowing, so every drop happens, and is counted, here. It never
// blocks: one atomic add per ended span.
type countingProcessor struct {
	sdktrace.SpanProcessor
	held    *atomic.Int64
	max     int64
	dropped prometheus.Counter
}

func (p *countingProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if p.held.Add(1) > p.max {
		p.held.Add(-1)
		p.dropped.Inc()
		return
	}
	p.SpanProcessor.OnEnd(s)
}

// countingExporter releases the spans it exported from the held count,
// counts failed ones, and aborts exports when the provider shuts down.
// A failed export is logged (rate limited) and reported as a success to
// the SDK, whose global error handler would otherwise print it.
type countingExporter struct {
	sdktrace.SpanExporter
	held   atomic.Int64
	failed prometheus.Counter
	log    *slog.Logger
	stop   context.Context
	cancel context.CancelFunc

	lastLog atomic.Int64 // unix nanoseconds of the last logged failure
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(e.stop, cancel)
	err := e.SpanExporter.ExportSpans(ctx, spans)
	stop()
	cancel()
	e.held.Add(-int64(len(spans)))
	if err != nil {
		e.failed.Add(float64(len(spans)))
		now := time.Now().UnixNano()
		if last := e.lastLog.Load(); e.log != nil && now-last > int64(30*time.Second) && e.lastLog.CompareAndSwap(last, now) {
			e.log.Warn("trace export failed; spans dropped", "spans", len(spans), "err", err.Error())
		}
	}
	return nil
}
