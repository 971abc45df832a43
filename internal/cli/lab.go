package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/hotpath-dev/hotpath/internal/bare"
	"github.com/hotpath-dev/hotpath/lab"
)

func init() {
	register(newLabCmd)
	register(newLabServerCmd)
	register(newLabExecCmd)
}

// labIsTerminal reports whether progress may be drawn on w.
var labIsTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newLabCmd() *cobra.Command {
	var (
		quick    bool
		only     string
		out      string
		peers    string
		duration time.Duration
		rounds   int
		servers  string
		base     string
		baseArgs string
	)
	cmd := &cobra.Command{
		Use:   "lab [flags]",
		Short: "Reproduce the seed's experiments on this machine against real peers, and write a report",
		Long: `lab runs the seed's experiments with hotpath's own servers and load generator against
bare Go baselines and the peers found on PATH (nginx, gunicorn + Flask, Node.js, ab,
gwproxy), and writes report.json, report.md and a self-contained report.html into --out.

Scenarios (--only): servers (seed §1: req/s and server CPU per request at saturation, P50/P99
at a fixed open-loop rate, start-up RSS, memory per idle keep-alive connection, ab -n 10000
-c 500), gc (§3: allocations/s, GC cycles/min, GC pause P99 of the net/http and fasthttp
engines at high concurrency), chain (§2.4: the ingest chain, fsync per event vs batch),
gateway (§4.4: bare grpc-go vs hotpath's native gRPC vs in-process JSON transcoding vs
grpc-gateway as a proxy process, gwproxy found on PATH), protocols (its rows say it is not built yet).

With 2 or more CPUs each server runs on CPU 0 with GOMAXPROCS=1 and the load generator on
CPU 1; contenders are interleaved over --rounds and reported as medians with the rounds'
min–max. A missing peer is a row "not installed (apt-get install …)", never a failure.
Progress goes to stderr on a terminal; stdout gets only the report paths.
--quick: 1 s runs, 2 rounds (1 for chain), 1,000 idle connections (under 2 minutes on 2
cores); the full run takes about 12–15 minutes.

--servers LIST runs only these rows of the servers scenario (the others are absent from the
report, with the ratios that need them). --base BIN compares this build with another hotpath
binary (an A/B, e.g. of a change against the revision before it): each hotpath-<engine> row
that runs gets a row base-hotpath-<engine> right after it, started from BIN with the same
arguments and interleaved in the rounds, and a ratio "hotpath-<engine> / base" of CPU per
request; the report records BIN's path and its version line. Build a revision with:
  git worktree add /tmp/hp-base REV && go -C /tmp/hp-base build -o /tmp/hotpath-base ./cmd/hotpath
A serve flag the older binary lacks fails its rows with that binary's own message.
--base-args "ARGS" appends serve arguments (split at spaces) to the base rows only: with --base
set to this binary, an A/B of one flag.`,
		Example: `  hotpath lab --quick
  hotpath lab --only servers --peers nginx,nodejs --out /tmp/lab
  hotpath lab --duration 10s --rounds 5
  hotpath lab --only servers --servers hotpath-fasthttp,fasthttp-hardened --base /tmp/hotpath-base --peers none
  hotpath lab --only servers --servers hotpath-nethttp --base "$(command -v hotpath)" --base-args=--grpc=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("lab: cannot find the hotpath binary: %w", err)
			}
			cfg := lab.Config{Binary: bin, Quick: quick, Peers: peers, Duration: duration, Rounds: rounds, Base: base,
				Command: "hotpath " + strings.Join(os.Args[1:], " "), Version: labVersion()}
			cfg.Only = splitList(only)
			cfg.Servers = splitList(servers)
			cfg.BaseArgs = strings.Fields(baseArgs)
			f := cmd.Flags()
			if f.Changed("servers") && len(cfg.Servers) == 0 {
				return UsageErrorf("--servers: empty list (want a list of %s)", strings.Join(lab.ServerNames(), ", "))
			}
			if f.Changed("base") && base == "" {
				return UsageErrorf("--base: empty path")
			}
			if f.Changed("duration") && duration <= 0 {
				return UsageErrorf("--duration %v: want 200ms to 10m", duration)
			}
			if f.Changed("rounds") && rounds <= 0 {
				return UsageErrorf("--rounds %d: want 1 to 50", rounds)
			}
			if err := cfg.Validate(); err != nil {
				return asUsage(trimConfig(err))
			}
			if out == "" {
				out = lab.DefaultOut(time.Now())
			}
			if err := lab.PrepareOut(out); err != nil {
				return asUsage(trimConfig(err))
			}
			if labIsTerminal(cmd.ErrOrStderr()) {
				cfg.Progress = cmd.ErrOrStderr()
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			// The first SIGINT/SIGTERM (through ctx, from Main) stops the run
			// and writes what was gathered; a second one exits at once,
			// killing the servers the lab started.
			defer exitOnSecondSignal(cmd.ErrOrStderr(), lab.KillChildren)()
			rep, err := lab.Run(ctx, cfg)
			if errors.Is(err, lab.ErrConfig) {
				return asUsage(trimConfig(err))
			}
			if err != nil {
				return err
			}
			paths, err := rep.WriteFiles(out)
			if err != nil {
				return err
			}
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.BoolVar(&quick, "quick", false, "short runs: 1s, 2 rounds (1 for chain), 1,000 idle connections (under 2 minutes on 2 cores)")
	f.StringVar(&only, "only", "", "comma-separated scenario ids to run: "+strings.Join(lab.ScenarioIDs(), ", ")+" (default all)")
	f.StringVar(&out, "out", "", "report directory (default hotpath-lab-<date>)")
	f.StringVar(&peers, "peers", "auto", "peers to use: auto (all found on PATH), none, or a list of "+strings.Join(lab.PeerNames(), ", "))
	f.DurationVar(&duration, "duration", 0, "each measured run (default 5s, 1s with --quick)")
	f.IntVar(&rounds, "rounds", 0, "interleaved rounds (default 3, 2 with --quick)")
	f.StringVar(&servers, "servers", "", "servers scenario: run only these rows, a list of "+strings.Join(lab.ServerNames(), ", ")+" (default all)")
	f.StringVar(&base, "base", "", "A/B: another hotpath binary; each hotpath-<engine> row gets a row base-hotpath-<engine> started from it, and a ratio")
	f.StringVar(&baseArgs, "base-args", "", "A/B of a flag: serve arguments (split at spaces) appended to the base rows only; needs --base")
	return cmd
}

// splitList splits a comma-separated flag value, trimming spaces and
// dropping empty items; "" gives nil.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// labVersion is `hotpath version`'s line without the leading "hotpath ".
func labVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return strings.TrimPrefix(versionLine(Version, bi, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH), "hotpath ")
}

// trimConfig drops lab.ErrConfig's prefix: the CLI's line names the flag.
func trimConfig(err error) error {
	if errors.Is(err, lab.ErrConfig) {
		return errors.New(strings.TrimPrefix(err.Error(), lab.ErrConfig.Error()+": "))
	}
	return err
}

// newLabServerCmd is the hidden `hotpath lab-server NAME --addr A`: a bare
// baseline server (package internal/bare) for the lab's Go rows.
func newLabServerCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "lab-server NAME",
		Short:  "Serve GET /time (grpc-go: TimeService/Now) on a bare baseline server (used by hotpath lab): " + strings.Join(bare.Names(), ", "),
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			serve, err := bare.Lookup(args[0])
			if err != nil {
				return asUsage(err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return asUsage(fmt.Errorf("--addr: %w", err))
			}
			// SIGUSR1: "allocs M B", for the lab's allocations per request.
			defer bare.ReportAllocs(cmd.OutOrStdout(), syscall.SIGUSR1)()
			fmt.Fprintf(cmd.OutOrStdout(), "listening on %s\n", ln.Addr())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, ln)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	return cmd
}

// newLabExecCmd is the hidden `hotpath lab-exec --cpu N -- PROGRAM ARGS...`:
// it sets its thread's CPU affinity to CPU N and execs PROGRAM, which keeps
// the PID and the mask (every thread it creates inherits it). The lab pins
// servers and the load generator with it, without needing taskset.
func newLabExecCmd() *cobra.Command {
	var cpu int
	cmd := &cobra.Command{
		Use:    "lab-exec --cpu N -- PROGRAM [ARGS...]",
		Short:  "Run PROGRAM pinned to one CPU (used by hotpath lab)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if cpu < 0 || cpu >= runtime.NumCPU() {
				return UsageErrorf("--cpu %d: this machine has CPUs 0 to %d", cpu, runtime.NumCPU()-1)
			}
			path, err := exec.LookPath(args[0])
			if err != nil {
				return asUsage(err)
			}
			runtime.LockOSThread() // the mask and the exec must be on the same thread
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				return fmt.Errorf("lab-exec: set CPU affinity: %w", err)
			}
			return fmt.Errorf("lab-exec: exec %s: %w", path, syscall.Exec(path, args, os.Environ()))
		},
	}
	cmd.Flags().IntVar(&cpu, "cpu", 0, "CPU to run on")
	return cmd
}
