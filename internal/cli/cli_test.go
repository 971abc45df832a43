package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// serve's --ingest-sink defaults to file:hotpath-data in the working
	// directory: tests (and the child processes they start, which inherit
	// the environment) must not write there, nor share one directory's
	// lock. Tests of the ingest path pass --ingest-sink explicitly.
	os.Setenv("HOTPATH_INGEST_SINK", "off")
	goleak.VerifyTestMain(m)
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{"version prints go version", []string{"version"}, ExitOK, "hotpath ", ""},
		{"help lists commands", []string{"--help"}, ExitOK, "version", ""},
		{"unknown command is a usage error", []string{"nope"}, ExitUsage, "", "unknown command"},
		{"unknown flag is a usage error", []string{"version", "--nope"}, ExitUsage, "", "unknown flag"},
		{"extra argument is a usage error", []string{"version", "x"}, ExitUsage, "", "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(tt.args, &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.wantErr)
			}
			if tt.wantCode == ExitUsage && strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
				t.Errorf("usage error should be one line, got %q", errb.String())
			}
		})
	}
}
