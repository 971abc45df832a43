// Package cli is the command tree of the hotpath binary. Each subcommand is a
// thin layer over an importable package: it parses flags, builds that
// package's config, runs it and maps errors to exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes returned by Main.
const (
	ExitOK    = 0 // the command did what was asked
	ExitFail  = 1 // the command ran but failed (e.g. a check did not pass)
	ExitUsage = 2 // bad input: unknown flag, bad value, unusable address or file
)

// usageError marks an error caused by the user's input; Main maps it to ExitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// UsageErrorf returns an error that makes Main exit with ExitUsage.
func UsageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// asUsage wraps err so that Main exits with ExitUsage; nil stays nil.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// exitError carries a specific exit code without an extra message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// newRoot builds the command tree. Subcommands are added in their own files.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hotpath",
		Short: "Build, prove and diagnose high-performance HTTP services",
		Long: `hotpath serves the seed's /time service on a hardened, observable Go server,
load-tests HTTP services with coordinated-omission-corrected HDR histograms,
and diagnoses running Go services from their pprof endpoints.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return asUsage(err) })
	root.AddCommand(newVersionCmd())
	root.AddCommand(subcommands()...)
	return root
}

// subcommands lists the commands registered by other files of this package
// through register. Keeping registration in each command's own file means
// adding a command touches no shared file.
var registered []func() *cobra.Command

func register(f func() *cobra.Command) { registered = append(registered, f) }

func subcommands() []*cobra.Command {
	cmds := make([]*cobra.Command, 0, len(registered))
	for _, f := range registered {
		cmds = append(cmds, f())
	}
	return cmds
}

// Main runs the hotpath command line with args (without the program name)
// and returns the process exit code. It never calls os.Exit.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "hotpath: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitFail
}
