package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary stand in for the hotpath binary: with
// HOTPATH_RUN_MAIN=1 it runs main with the arguments after "--", so the
// tests below see the exit codes and output of the real entry point.
func TestMain(m *testing.M) {
	if os.Getenv("HOTPATH_RUN_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"hotpath"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "HOTPATH_RUN_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run: %v", err)
	}
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string // substring
		stderrLine bool   // exactly one line on stderr
	}{
		{[]string{"version"}, 0, "hotpath", false},
		{[]string{"--help"}, 0, "serve", false},
		{[]string{"serve", "--no-such-flag"}, 2, "", true},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--max-inflight", "-3"}, 2, "", true},
		{[]string{"no-such-command"}, 2, "", true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tc.stdout)
			}
			if tc.stderrLine && strings.Count(strings.TrimSuffix(stderr, "\n"), "\n") != 0 {
				t.Errorf("stderr should be one line, got %q", stderr)
			}
			if tc.stderrLine && stderr == "" {
				t.Error("stderr is empty; want a message")
			}
		})
	}
}
