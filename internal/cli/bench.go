package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hotpath-dev/hotpath/loadgen"
	"github.com/hotpath-dev/hotpath/report"
)

func init() { register(newBenchCmd) }

// benchOptions are the flags of `hotpath bench`.
type benchOptions struct {
	connections      int
	requests         uint64
	duration         time.Duration
	rate             float64
	warmup           time.Duration
	disableKeepAlive bool
	http2, h2c       bool
	streams          int
	method           string
	headers          []string
	body, bodyFile   string
	timeout          time.Duration
	insecure         bool
	output           string
	serverPID        int
	grpc             *grpcBenchFlags // --grpc, --call: see bench_grpc.go
}

func newBenchCmd() *cobra.Command { return benchCmd(&benchOptions{}) }

// benchCmd builds the command with its flags bound to o.
func benchCmd(o *benchOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench [flags] URL",
		Short: "Load-test an HTTP service (closed or open loop, HDR latency, CPU cost per request)",
		Long: `bench loads URL over HTTP/1.1 (keep-alive or not), HTTP/2 over TLS or h2c and reports
throughput, errors by class, and latency percentiles from an HDR histogram.

Closed loop (default): -c connections send requests back to back for -d or -n.
Open loop (--rate R): R requests per second for the whole run; latency counts from each
request's intended send time (coordinated-omission corrected), service time from the
actual send; sends that found every connection busy are reported as late.

--output json writes the versioned schema hotpath.bench/v1 (docs/bench.md); results of
several generators combine exactly with 'hotpath bench merge'.`,
		Example: `  hotpath bench -c 64 -d 10s http://127.0.0.1:8080/time
  hotpath bench --rate 5000 -c 32 -d 30s --warmup 5s http://127.0.0.1:8080/time
  hotpath bench --h2c --streams 16 -c 4 -n 100000 http://127.0.0.1:8080/time
  hotpath bench -m POST -H 'Content-Type: application/json' --body '{"a":1}' https://host/api
  hotpath bench --server-pid $(pgrep -n myserver) -d 10s -o json http://127.0.0.1:8080/time > a.json
  hotpath bench --grpc --call hotpath.v1.TimeService/Now -c 4 --streams 16 -d 10s http://127.0.0.1:8080`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.config(cmd, args[0])
			if err != nil {
				return asUsage(err)
			}
			return runBench(cmd.Context(), c, o.output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.IntVarP(&o.connections, "connections", "c", loadgen.DefaultConnections, "connections to open")
	f.Uint64VarP(&o.requests, "requests", "n", 0, "stop after this many measured requests (0: use -d)")
	f.DurationVarP(&o.duration, "duration", "d", 0, "measured duration after warm-up (default 10s unless -n)")
	f.Float64Var(&o.rate, "rate", 0, "open loop: requests per second for the whole run (not per connection)")
	f.DurationVar(&o.warmup, "warmup", 0, "warm-up run first and excluded from the results")
	f.BoolVar(&o.disableKeepAlive, "disable-keepalive", false, "open a new connection for every request (HTTP/1.1)")
	f.BoolVar(&o.http2, "http2", false, "HTTP/2 over TLS, negotiated with ALPN (https URL)")
	f.BoolVar(&o.h2c, "h2c", false, "HTTP/2 over cleartext TCP with prior knowledge (http URL)")
	f.IntVar(&o.streams, "streams", 1, "concurrent streams per HTTP/2 connection")
	f.StringVarP(&o.method, "method", "m", "GET", "request method")
	f.StringArrayVarP(&o.headers, "header", "H", nil, `request header "Name: value" (repeatable)`)
	f.StringVar(&o.body, "body", "", "request body")
	f.StringVar(&o.bodyFile, "body-file", "", "read the request body from this file")
	f.DurationVar(&o.timeout, "timeout", loadgen.DefaultTimeout, "per-request timeout, connecting included")
	f.BoolVar(&o.insecure, "insecure", false, "skip TLS certificate verification (self-signed targets)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.IntVar(&o.serverPID, "server-pid", 0, "PID of the target on this machine: add its CPU per request and peak RSS")
	o.grpc = addGRPCBenchFlags(f)
	cmd.AddCommand(newBenchMergeCmd())
	return cmd
}

// config turns parsed flags into a validated loadgen.Config. Every error is
// one line naming the flag.
func (o *benchOptions) config(cmd *cobra.Command, url string) (loadgen.Config, error) {
	c := loadgen.Config{
		URL: url, Method: o.method, Connections: o.connections, Streams: o.streams,
		Requests: o.requests, Duration: o.duration, Warmup: o.warmup, Rate: o.rate,
		Timeout: o.timeout, DisableKeepAlive: o.disableKeepAlive, HTTP2: o.http2, H2C: o.h2c,
		Insecure: o.insecure, ServerPID: o.serverPID,
	}
	changed := func(name string) bool { return cmd != nil && cmd.Flags().Changed(name) }
	switch {
	case o.output != "text" && o.output != "json":
		return c, fmt.Errorf("--output %q: want text or json", o.output)
	case changed("rate") && !(o.rate > 0):
		return c, fmt.Errorf("--rate must be > 0 requests per second, got %v", o.rate)
	case o.connections <= 0:
		return c, fmt.Errorf("-c/--connections must be > 0, got %d", o.connections)
	case o.streams <= 0:
		return c, fmt.Errorf("--streams must be > 0, got %d", o.streams)
	case changed("duration") && o.duration <= 0:
		return c, fmt.Errorf("-d/--duration must be > 0, got %v", o.duration)
	case changed("requests") && o.requests == 0:
		return c, fmt.Errorf("-n/--requests must be > 0")
	case o.timeout <= 0:
		return c, fmt.Errorf("--timeout must be > 0, got %v", o.timeout)
	case o.warmup < 0:
		return c, fmt.Errorf("--warmup must not be negative, got %v", o.warmup)
	case o.serverPID < 0:
		return c, fmt.Errorf("--server-pid must be > 0, got %d", o.serverPID)
	case o.body != "" && o.bodyFile != "":
		return c, fmt.Errorf("--body and --body-file are exclusive")
	}
	for _, h := range o.headers {
		hd, err := loadgen.ParseHeader(h)
		if err != nil {
			return c, fmt.Errorf("-H: %w", err)
		}
		c.Headers = append(c.Headers, hd)
	}
	c.Body = []byte(o.body)
	if o.bodyFile != "" {
		b, err := os.ReadFile(o.bodyFile)
		if err != nil {
			return c, fmt.Errorf("--body-file: %w", err)
		}
		c.Body = b
	}
	if o.serverPID > 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", o.serverPID)); err != nil {
			return c, fmt.Errorf("--server-pid %d: no such process", o.serverPID)
		}
	}
	var ctx context.Context
	if cmd != nil {
		ctx = cmd.Context()
	}
	if err := o.grpc.apply(ctx, &c, changed); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// runBench runs the test and prints the result. The first SIGINT/SIGTERM
// (delivered through ctx by Main) stops the test and prints what was
// gathered; a second one exits at once.
func runBench(ctx context.Context, c loadgen.Config, output string, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	defer exitOnSecondSignal(stderr, nil)()

	live := output == "text" && benchIsTerminal(stdout)
	if live {
		c.Progress = func(p loadgen.Progress) {
			phase := ""
			if p.Warmup {
				phase = " (warm-up)"
			}
			fmt.Fprintf(stdout, "\r\033[K%6.1fs%s  %d requests  %.0f req/s  %d errors  p99 %v",
				p.Elapsed.Seconds(), phase, p.Requests, p.RPS, p.Errors, p.P99)
		}
	}
	res, err := loadgen.Run(ctx, c)
	if live {
		fmt.Fprint(stdout, "\r\033[K")
	}
	if err != nil && res == nil {
		if loadgen.IsBadInput(err) {
			return asUsage(err)
		}
		return err
	}
	if err != nil { // the test ran; only the cost meter failed
		fmt.Fprintf(stderr, "hotpath: warning: %v\n", err)
	}
	if res.LateSends > 0 {
		fmt.Fprintf(stderr, "hotpath: warning: rate not kept: %d of %d sends found every connection busy (raise -c or lower --rate)\n",
			res.LateSends, res.Requests)
	}
	return writeResult(stdout, res, output)
}

func writeResult(w io.Writer, r *report.Result, output string) error {
	if output == "json" {
		return report.WriteJSON(w, r)
	}
	return report.WriteText(w, r)
}

func benchIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
