package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hotpath-dev/hotpath/doctor"
)

func init() { register(newDoctorCmd) }

// doctorFlags mirrors doctor.Config plus presentation flags.
type doctorFlags struct {
	cfg           doctor.Config
	output        string
	failOnSuspect bool
}

func newDoctorCmd() *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Profile a running Go service through net/http/pprof and name its hot spots and leaks",
		Long: `doctor captures a running Go service's profiles through net/http/pprof (CPU,
allocations, heap, mutex, block, and the goroutine profile twice, --interval
apart) plus runtime figures, then reports the hottest functions, the top
allocation sites, GC pause P50/P99 and goroutine leak suspects: stacks that
grew between the snapshots while blocked on a channel, select, lock, network
or sleep, with their creation site and first frame in user code.

It works against any Go program that mounts net/http/pprof. Raw profiles are
saved under --out with the go tool pprof command that opens each one.`,
		Example: `  hotpath doctor                                   # target http://127.0.0.1:6060
  hotpath doctor --admin http://10.0.0.7:6060 --token "$ADMIN_TOKEN"
  hotpath doctor --cpu 10s --interval 20s -o json > doctor.json
  hotpath doctor --out= --fail-on-suspect          # save nothing; exit 1 on a leak suspect`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDoctor(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.Admin, "admin", doctor.DefaultAdmin, "admin address of the target (http://host:port, or the full /debug/pprof/ URL)")
	fl.StringVar(&f.cfg.Token, "token", "", "bearer token sent as \"Authorization: Bearer <token>\"")
	fl.DurationVar(&f.cfg.CPU, "cpu", doctor.DefaultCPU, "CPU, allocation, mutex and block profile length (whole seconds)")
	fl.DurationVar(&f.cfg.Interval, "interval", doctor.DefaultInterval, "time between the two goroutine snapshots (at least --cpu)")
	fl.IntVar(&f.cfg.Top, "top", doctor.DefaultTop, "length of each top-functions list")
	fl.IntVar(&f.cfg.MinGrowth, "min-growth", 1, "smallest goroutine growth that makes a blocked group a leak suspect")
	fl.StringVar(&f.cfg.OutDir, "out", "",
		"directory for the raw profiles, created (default ./hotpath-doctor-<UTC time>); --out= saves nothing")
	fl.StringVarP(&f.output, "output", "o", "text", "report format: text or json")
	fl.BoolVar(&f.failOnSuspect, "fail-on-suspect", false, "exit 1 when there is a goroutine leak suspect")
	return cmd
}

func runDoctor(cmd *cobra.Command, f doctorFlags) error {
	if f.output != "text" && f.output != "json" {
		return UsageErrorf("--output %q: want text or json", f.output)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--cpu", f.cfg.CPU}, {"--interval", f.cfg.Interval}} {
		if d.v <= 0 {
			return UsageErrorf("%s %v: must be positive", d.name, d.v)
		}
	}
	if f.cfg.Top <= 0 {
		return UsageErrorf("--top %d: must be positive", f.cfg.Top)
	}
	if f.cfg.MinGrowth <= 0 {
		return UsageErrorf("--min-growth %d: must be positive", f.cfg.MinGrowth)
	}
	if !cmd.Flags().Changed("out") {
		f.cfg.OutDir = "hotpath-doctor-" + time.Now().UTC().Format("20060102-150405")
	}
	if isTerminal(cmd.ErrOrStderr()) {
		fmt.Fprintf(cmd.ErrOrStderr(), "hotpath doctor: profiling %s for about %v (Ctrl-C stops early)...\n",
			f.cfg.Admin, max(f.cfg.Interval, f.cfg.CPU).Round(time.Second))
	}
	rep, err := doctor.Run(cmd.Context(), f.cfg)
	var ce *doctor.ConfigError
	switch {
	case errors.Is(err, doctor.ErrUnreachable), errors.Is(err, doctor.ErrUnauthorized),
		errors.Is(err, doctor.ErrNotPprof), errors.As(err, &ce):
		return asUsage(err)
	case err != nil:
		return err
	}
	out := cmd.OutOrStdout()
	if f.output == "json" {
		err = doctor.WriteJSON(out, rep)
	} else {
		err = doctor.WriteText(out, rep)
	}
	if err != nil {
		return err
	}
	if f.failOnSuspect && len(rep.Goroutines.Suspects) > 0 {
		return exitError{ExitFail}
	}
	return nil
}

// isTerminal reports whether w is a terminal, for progress lines.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
