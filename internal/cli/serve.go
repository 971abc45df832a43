package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hotpath-dev/hotpath/ingest/sinkuri"
	"github.com/hotpath-dev/hotpath/internal/connlimit"
	"github.com/hotpath-dev/hotpath/serve"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/tracing"
)

func init() { register(newServeCmd) }

// serveOptions are serve's flags that are not server.Config fields.
type serveOptions struct {
	engine      string
	printConfig bool
	grpc        bool
}

func newServeCmd() *cobra.Command {
	var cfg server.Config
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve the /time service on a hardened, observable server",
		Long: `serve runs the hotpath service: GET /time (Unix milliseconds), GET /json, POST /echo,
GET /delay?ms=N, GET /healthz and GET /readyz on the public address, and pprof plus
Prometheus /metrics on a separate admin address (loopback by default; any other admin
address requires --admin-token). With the nethttp (default) and fasthttp engines the
same port also serves gRPC (hotpath.v1 TimeService and EchoService, health, reflection)
and their HTTP/JSON gateway (GET /v1/time, POST /v1/echo); --grpc=false turns that off.

POST /ingest stores its body as one event and answers 202 {"offset":N} only once the
event is durable in the sink --ingest-sink names: by default file:hotpath-data, an
embedded log in the working directory (fsync per batch); kafka://HOST:PORT/TOPIC writes
to Kafka; off removes the route. Events are written in batches of up to --batch-size,
waiting at most --batch-wait; a full queue (--ingest-queue) or a failing sink answers 503
with Retry-After, and /readyz turns 503 after --ingest-unready-after of sink failure.
The same path is gRPC hotpath.v1 IngestService (POST /v1/ingest on the gateway).
"hotpath ingest read" and "hotpath ingest stats" show what was stored. See docs/ingest.md.
On fasthttp the port speaks HTTP/1.1 and gRPC only: no TLS, and plain HTTP/2 (h2c) is
refused with GOAWAY HTTP_1_1_REQUIRED. nbio cannot serve gRPC.

Every flag can also be set by an environment variable HOTPATH_<FLAG>, upper case with
"-" as "_" (--max-inflight is HOTPATH_MAX_INFLIGHT); a flag on the command line wins.
Durations take Go syntax (500ms, 15s, 2m). Lists are comma-separated.

Tracing (OpenTelemetry, OTLP) is off unless --otlp-endpoint or the standard OTEL_*
environment sets an endpoint; see docs/tracing.md.

The middleware chain, outermost first: Recover, RequestID, Trace (if on), AccessLog (if on), Metrics,
Shed (--max-inflight), RateLimit (if on), CORS (if origins), Auth (if tokens, on
--auth-routes), Timeout (--request-timeout), MaxBytes (--max-body-bytes). The probes
/healthz and /readyz are never shed, rate limited or guarded.

On SIGTERM or SIGINT /readyz answers 503 at once; after --drain-delay the listener stops
accepting and idle connections close; in-flight requests get --shutdown-timeout to finish;
then serve exits 0 (1 if some had to be cut off). A second signal exits at once. Bad flags or environment values, a busy
port or an unreadable certificate exit 2 with one line on stderr. See docs/serve.md.`,
		Example: `  hotpath serve
  hotpath serve --addr :9090 --access-log --access-log-format json
  hotpath serve --tls-self-signed --addr 127.0.0.1:8443      # HTTP/2 via ALPN
  hotpath serve --h2c                                         # HTTP/2 cleartext (prior knowledge)
  hotpath serve --admin-addr :6060 --admin-token "$TOKEN"     # admin reachable off-host
  hotpath serve --auth-token s3cret --auth-routes /echo --rate-limit 50
  HOTPATH_DRAIN_DELAY=5s HOTPATH_SHUTDOWN_TIMEOUT=20s hotpath serve
  hotpath serve --ingest-sink file:/var/lib/hotpath --batch-size 64 --batch-wait 2ms
  HOTPATH_INGEST_SINK=kafka://kafka-0:9092,kafka-1:9092/events hotpath serve
  hotpath serve --print-config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Pointers: applyEnv sets the flags' variables, cfg and o
			// themselves, after this closure was made.
			return runServe(cmd, &cfg, &o)
		},
	}
	bindServeFlags(cmd.Flags(), &cfg, &o)
	return cmd
}

// configFlag is one server.Config field as a serve flag: its name (and so
// its HOTPATH_* variable), its help, and the field. The table below is the
// one place that maps flags, environment variables and --print-config's
// lines to Config: binding, the environment and printing all walk it.
type configFlag struct {
	name, usage string
	field       func(*server.Config) any // a pointer to the field
	secret      bool                     // --print-config redacts it
	// def, when not nil, is the flag's default instead of the field's
	// (Config.WithDefaults): for a field whose library zero value is off
	// but which `hotpath serve` turns on (--ingest-sink). Same type as the
	// field.
	def any
}

var configFlags = []configFlag{
	{name: "addr", usage: "public listen address", field: func(c *server.Config) any { return &c.Addr }},
	{name: "admin-addr", usage: `admin listen address (pprof, /metrics); "off" disables it`, field: func(c *server.Config) any { return &c.AdminAddr }},
	{name: "admin-token", usage: "bearer token for the admin listener (required unless it is loopback)", field: func(c *server.Config) any { return &c.AdminToken }, secret: true},
	{name: "tls-cert", usage: "PEM certificate file: serve HTTPS with ALPN h2 and http/1.1", field: func(c *server.Config) any { return &c.TLSCert }},
	{name: "tls-key", usage: "PEM private key file for --tls-cert", field: func(c *server.Config) any { return &c.TLSKey }},
	{name: "tls-self-signed", usage: "serve HTTPS with an in-memory self-signed certificate (local use)", field: func(c *server.Config) any { return &c.TLSSelfSigned }},
	{name: "h2c", usage: "also accept HTTP/2 over cleartext with prior knowledge (always on with --grpc on nethttp, whose port speaks h2c; fasthttp has none)", field: func(c *server.Config) any { return &c.H2C }},
	{name: "h2-max-concurrent-streams", usage: "HTTP/2 streams per connection", field: func(c *server.Config) any { return &c.H2MaxConcurrentStreams }},
	{name: "read-header-timeout", usage: "time to read request headers (slowloris guard)", field: func(c *server.Config) any { return &c.ReadHeaderTimeout }},
	{name: "read-timeout", usage: "time to read a whole request, body included", field: func(c *server.Config) any { return &c.ReadTimeout }},
	{name: "write-timeout", usage: "time from request headers to the end of the response", field: func(c *server.Config) any { return &c.WriteTimeout }},
	{name: "idle-timeout", usage: "close keep-alive connections idle this long", field: func(c *server.Config) any { return &c.IdleTimeout }},
	{name: "request-timeout", usage: "per-request deadline, then 503 (negative: none)", field: func(c *server.Config) any { return &c.RequestTimeout }},
	{name: "max-header-bytes", usage: "request header limit, then 431", field: func(c *server.Config) any { return &c.MaxHeaderBytes }},
	{name: "max-body-bytes", usage: "request body limit, then 413", field: func(c *server.Config) any { return &c.MaxBodyBytes }},
	{name: "max-connections", usage: "open public connections; more wait in the accept queue", field: func(c *server.Config) any { return &c.MaxConnections }},
	{name: "max-inflight", usage: "requests handled at once; more get 503 + Retry-After", field: func(c *server.Config) any { return &c.MaxInFlight }},
	{name: "drain-delay", usage: "on SIGTERM, report not-ready this long before closing the listener", field: func(c *server.Config) any { return &c.DrainDelay }},
	{name: "shutdown-timeout", usage: "on SIGTERM, time in-flight requests get to finish", field: func(c *server.Config) any { return &c.ShutdownTimeout }},
	{name: "access-log", usage: "write a structured access log to stdout", field: func(c *server.Config) any { return &c.AccessLog }},
	{name: "access-log-format", usage: "access log format: text or json", field: func(c *server.Config) any { return &c.AccessLogFormat }},
	{name: "access-log-sample", usage: "log one request in N (5xx always logged)", field: func(c *server.Config) any { return &c.AccessLogSample }},
	{name: "cors-origins", usage: `origins allowed by CORS ("*" for any); empty: no CORS`, field: func(c *server.Config) any { return &c.CORSOrigins }},
	{name: "rate-limit", usage: "requests per second per client IP, then 429 (0: off)", field: func(c *server.Config) any { return &c.RateLimit }},
	{name: "rate-burst", usage: "rate limit bucket size (0: rate rounded up)", field: func(c *server.Config) any { return &c.RateBurst }},
	{name: "auth-token", usage: "accepted bearer tokens for --auth-routes (empty: no auth)", field: func(c *server.Config) any { return &c.AuthTokens }, secret: true},
	{name: "auth-routes", usage: `paths that need a token; "/x/" covers a subtree (default with tokens: all but /healthz, /readyz)`, field: func(c *server.Config) any { return &c.AuthRoutes }},
	{name: "otlp-endpoint", usage: "OTLP collector URL (http://host:4318; gRPC: http://host:4317); turns tracing on (default: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, else off)", field: func(c *server.Config) any { return &c.OTLPEndpoint }},
	{name: "otlp-protocol", usage: "OTLP protocol: grpc or http/protobuf (default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)", field: func(c *server.Config) any { return &c.OTLPProtocol }},
	{name: "trace-sampler", usage: "OTEL_TRACES_SAMPLER name: parentbased_always_on (default), parentbased_traceidratio, always_off, ...", field: func(c *server.Config) any { return &c.TraceSampler }},
	{name: "trace-sampler-arg", usage: "sampling ratio 0..1 of the traceidratio samplers (default: OTEL_TRACES_SAMPLER_ARG)", field: func(c *server.Config) any { return &c.TraceSamplerArg }},
	{name: "service-name", usage: "service.name of the traces (default: OTEL_SERVICE_NAME, else hotpath)", field: func(c *server.Config) any { return &c.ServiceName }},
	{name: "trace-response-header", usage: "send each traced response's traceparent to the client", field: func(c *server.Config) any { return &c.TraceResponseHeader }},
	// Ingest (issue 13): POST /ingest, gRPC IngestService.
	{name: "ingest-sink", usage: `where POST /ingest stores events: file:DIR (embedded log), kafka://HOST:PORT[,HOST:PORT]/TOPIC, or off`, field: func(c *server.Config) any { return &c.IngestSink }, def: defaultIngestSink},
	{name: "batch-size", usage: "most events per sink write (one fsync / one produce request per batch)", field: func(c *server.Config) any { return &c.IngestBatchSize }},
	{name: "batch-wait", usage: "longest an event waits for its batch to fill before the batch is written", field: func(c *server.Config) any { return &c.IngestBatchWait }},
	{name: "ingest-queue", usage: "events accepted and not yet answered; more get 503 + Retry-After", field: func(c *server.Config) any { return &c.IngestQueue }},
	{name: "ingest-max-event-bytes", usage: "largest event POST /ingest accepts, then 413", field: func(c *server.Config) any { return &c.IngestMaxEventBytes }},
	{name: "ingest-unready-after", usage: "/readyz answers 503 once the sink has failed this long without a success", field: func(c *server.Config) any { return &c.IngestUnreadyAfter }},
	{name: "fsync", usage: "file sink: batch (fsync before acknowledging each batch) or never (UNSAFE: a machine crash loses acknowledged events)", field: func(c *server.Config) any { return &c.IngestFsync }},
	{name: "kafka-delivery-timeout", usage: "Kafka sink: longest a batch waits for the cluster's acknowledgement before its events get 503 (at least 1s)", field: func(c *server.Config) any { return &c.IngestKafkaDeliveryTimeout }},
	{name: "ingest-format", usage: "what an event must be: raw (any bytes, stored as sent) or json (one JSON value, stored compacted; else 400)", field: func(c *server.Config) any { return &c.IngestFormat }},
}

// defaultIngestSink is --ingest-sink's default: the embedded log in the
// working directory, so that `hotpath serve` ingests out of the box. The
// Config field's zero value is off (a library user writes no files unasked).
const defaultIngestSink = "file:hotpath-data"

// bindServeFlags defines --engine, one flag per configFlags entry (its
// default the effective default, so --help shows what serve will use),
// --grpc and --print-config.
func bindServeFlags(f *pflag.FlagSet, c *server.Config, o *serveOptions) {
	d := server.Config{}.WithDefaults()
	for _, cf := range configFlags {
		if cf.def != nil {
			reflect.ValueOf(cf.field(&d)).Elem().Set(reflect.ValueOf(cf.def))
		}
	}
	f.SortFlags = false
	f.StringVar(&o.engine, "engine", "nethttp", "server engine: "+strings.Join(serve.Engines(), ", "))
	for _, cf := range configFlags {
		switch p := cf.field(c).(type) {
		case *string:
			f.StringVar(p, cf.name, *cf.field(&d).(*string), cf.usage)
		case *bool:
			f.BoolVar(p, cf.name, *cf.field(&d).(*bool), cf.usage)
		case *int:
			f.IntVar(p, cf.name, *cf.field(&d).(*int), cf.usage)
		case *int64:
			f.Int64Var(p, cf.name, *cf.field(&d).(*int64), cf.usage)
		case *float64:
			f.Float64Var(p, cf.name, *cf.field(&d).(*float64), cf.usage)
		case *time.Duration:
			f.DurationVar(p, cf.name, *cf.field(&d).(*time.Duration), cf.usage)
		case *[]string:
			f.StringSliceVar(p, cf.name, *cf.field(&d).(*[]string), cf.usage)
		default:
			panic(fmt.Sprintf("serve flag --%s: unsupported field type %T", cf.name, p))
		}
	}
	f.BoolVar(&o.grpc, "grpc", true, "serve gRPC (hotpath.v1, health, reflection) and its HTTP/JSON gateway (/v1/...) on the public port; nethttp and fasthttp engines")
	f.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration and exit")
}

// envName is the environment variable for a flag: HOTPATH_MAX_INFLIGHT.
func envName(flag string) string {
	return "HOTPATH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// HOTPATH_<FLAG> variable, if set (--print-config excepted: an action, not
// configuration). A bad value is a usage error naming the
// variable.
func applyEnv(f *pflag.FlagSet, getenv func(string) (string, bool)) error {
	var err error
	f.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed || fl.Name == "help" || fl.Name == "print-config" {
			return
		}
		v, ok := getenv(envName(fl.Name))
		if !ok {
			return
		}
		if e := fl.Value.Set(v); e != nil {
			err = UsageErrorf("environment variable %s=%q: %v", envName(fl.Name), v, e)
		}
	})
	return err
}

// sourceOf says where a flag's value came from, for --print-config.
func sourceOf(fl *pflag.Flag) string {
	if fl.Changed {
		return "flag"
	}
	if _, ok := os.LookupEnv(envName(fl.Name)); ok {
		return envName(fl.Name)
	}
	return "default"
}

// printConfig writes the effective configuration, one flag per line, with
// the source of each value and secrets redacted. Config fields print as the
// server will use them (eff: WithDefaults applied, so a 0 given for a limit
// prints its default), other flags as set.
func printConfig(w io.Writer, f *pflag.FlagSet, eff server.Config) error {
	effective := map[string]string{}
	secret := map[string]bool{}
	for _, cf := range configFlags {
		effective[cf.name] = formatValue(cf.field(&eff))
		secret[cf.name] = cf.secret
	}
	if g, e := f.Lookup("grpc"), f.Lookup("engine"); g != nil && g.Value.String() == "true" && e != nil && e.Value.String() == "nethttp" {
		effective["h2c"] = "true" // net/http on the port shared with gRPC serves h2c too (fasthttp cannot)
	}
	// The tracing flags left unset fall back to the OTEL_* environment (and
	// the SDK's defaults): print what tracing will use, and from where.
	otel := map[string]tracing.Setting{}
	for _, st := range eff.TracingConfig().Resolved() {
		otel[st.Name] = st
	}
	var err error
	f.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Name == "help" || fl.Name == "print-config" {
			return
		}
		v, ok := effective[fl.Name]
		if !ok {
			v = fl.Value.String()
		}
		from := sourceOf(fl)
		if st, ok := otel[fl.Name]; ok && from == "default" {
			v, from = st.Value, st.From
		}
		if secret[fl.Name] && v != "" {
			v = "<redacted>"
		}
		_, err = fmt.Fprintf(w, "%-26s %-22s # %s\n", fl.Name, v, from)
	})
	return err
}

// formatValue prints a Config field as its flag would take it.
func formatValue(p any) string {
	switch v := p.(type) {
	case *[]string:
		return strings.Join(*v, ",")
	case *time.Duration:
		return v.String()
	case *string:
		return *v
	default:
		return fmt.Sprint(reflect.ValueOf(p).Elem().Interface())
	}
}

// checkIngestFlags refuses what Config.Validate lets through because a zero
// field stands for its default: a flag given as 0 asks for no batching or no
// queue, which cannot work. The sink URI is parsed whole here (Validate
// checks its scheme), so --print-config refuses a bad one too.
func checkIngestFlags(cfg server.Config) error {
	for _, n := range []struct {
		flag string
		v    int
	}{{"batch-size", cfg.IngestBatchSize}, {"ingest-queue", cfg.IngestQueue}, {"ingest-max-event-bytes", cfg.IngestMaxEventBytes}} {
		if n.v == 0 {
			return UsageErrorf("--%s 0: want at least 1", n.flag)
		}
	}
	if sink := cfg.WithDefaults().IngestSink; sink != server.IngestOff {
		if _, err := sinkuri.Parse(sink); err != nil {
			return UsageErrorf("--ingest-sink: %v", err)
		}
	}
	return nil
}

// runServe serves with the configuration bound to cmd's flags. cfgp and op
// are the flags' variables: read only after applyEnv, which sets some of them
// from HOTPATH_* variables.
func runServe(cmd *cobra.Command, cfgp *server.Config, op *serveOptions) error {
	f := cmd.Flags()
	if err := applyEnv(f, os.LookupEnv); err != nil {
		return err
	}
	cfg, o := *cfgp, *op
	if !slices.Contains(serve.Engines(), o.engine) {
		return UsageErrorf("--engine %q: unknown engine (have %s)", o.engine, strings.Join(serve.Engines(), ", "))
	}
	if err := cfg.Validate(); err != nil {
		return asUsage(err)
	}
	if err := checkIngestFlags(cfg); err != nil {
		return err
	}
	if o.grpc && !slices.Contains(serve.GRPCEngines(), o.engine) {
		// On by default only where it can be served; asked for, an error.
		if fl := f.Lookup("grpc"); fl.Changed || sourceOf(fl) != "default" {
			return UsageErrorf("--grpc: engine %q cannot serve gRPC (%s can)", o.engine, strings.Join(serve.GRPCEngines(), " and "))
		}
		o.grpc = false
		_ = f.Lookup("grpc").Value.Set("false")
	}
	if o.printConfig {
		return printConfig(cmd.OutOrStdout(), f, cfg.WithDefaults())
	}
	stderr := cmd.ErrOrStderr()
	stop := exitOnSecondSignal(stderr, nil)
	defer stop()
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	connlimit.CheckNoFile(log, cfg.WithDefaults().MaxConnections) // warns when RLIMIT_NOFILE is below the cap
	s, err := serve.New(cfg, serve.Options{Engine: o.engine, GRPC: o.grpc, Log: log, AccessLog: cmd.OutOrStdout()})
	if err == nil {
		err = s.Run(ctx)
	}
	var le *server.ListenError
	if errors.Is(err, server.ErrInvalidConfig) || errors.As(err, &le) {
		return asUsage(err)
	}
	return err
}
