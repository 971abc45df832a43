package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLabBadInput: every kind of bad input is one line on stderr and exit
// 2, before anything runs (the runs would take minutes).
func TestLabBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	notHotpath := filepath.Join(t.TempDir(), "not-hotpath")
	if err := os.WriteFile(notHotpath, []byte("#!/bin/sh\necho 'Python 3.11.2'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown --servers row lists the known ones", []string{"lab", "--servers", "hotpath-nethttp,apache"},
			`--servers: unknown row "apache" (want a list of hotpath-nethttp, hotpath-fasthttp, hotpath-nbio, nethttp,`},
		{"empty --servers", []string{"lab", "--servers", " , "}, "--servers: empty list"},
		{"--servers without the servers scenario", []string{"lab", "--only", "gc", "--servers", "nginx"}, "--servers: --only gc leaves out"},
		{"empty --base", []string{"lab", "--base", ""}, "--base: empty path"},
		{"--base-args without --base", []string{"lab", "--base-args", "--grpc=false"}, "--base-args: needs --base"},
		{"missing --base", []string{"lab", "--base", filepath.Join(file, "nope")}, "--base " + filepath.Join(file, "nope")},
		{"--base not executable", []string{"lab", "--base", file}, "--base " + file + ": not executable"},
		{"--base not hotpath", []string{"lab", "--base", notHotpath}, "--base " + notHotpath + ": not a hotpath binary"},
		{"--base without the servers scenario", []string{"lab", "--only", "chain", "--base", notHotpath}, "--base: --only chain leaves out"},
		{"--base with no hotpath row", []string{"lab", "--servers", "nginx", "--base", notHotpath}, "--base: --servers nginx has no hotpath-<engine> row"},
		{"unknown scenario", []string{"lab", "--only", "servers,nope"}, `--only: unknown scenario "nope"`},
		{"unwritable --out", []string{"lab", "--out", filepath.Join(file, "sub")}, "--out " + filepath.Join(file, "sub")},
		{"bad duration syntax", []string{"lab", "--duration", "fast"}, "--duration"},
		{"duration too short", []string{"lab", "--duration", "1ms"}, "--duration 1ms"},
		{"negative duration", []string{"lab", "--duration", "-1s"}, "--duration -1s"},
		{"zero rounds", []string{"lab", "--rounds", "0"}, "--rounds 0"},
		{"unknown peer", []string{"lab", "--peers", "nginx,apache"}, `--peers: unknown peer "apache"`},
		{"arguments", []string{"lab", "servers"}, "unknown command"},
		{"unknown bare server", []string{"lab-server", "apache"}, `unknown bare server "apache"`},
		{"lab-exec on a CPU the machine lacks", []string{"lab-exec", "--cpu", "4096", "--", "true"}, "--cpu 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(tt.args, &out, &errb)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, ExitUsage, errb.String())
			}
			msg := strings.TrimSpace(errb.String())
			if !strings.Contains(msg, tt.wantErr) || strings.Contains(msg, "\n") {
				t.Fatalf("stderr %q: want one line containing %q", errb.String(), tt.wantErr)
			}
			if out.Len() != 0 {
				t.Fatalf("stdout %q, want nothing", out.String())
			}
		})
	}
}

func TestLabHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"lab", "--help"}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--quick", "--only", "--out", "--peers", "--duration", "--rounds", "--servers", "--base", "--base-args",
		"base-hotpath-<engine>", "git worktree add /tmp/hp-base REV && go -C /tmp/hp-base build -o /tmp/hotpath-base ./cmd/hotpath",
		"servers", "gc", "chain", "gateway", "protocols", "not installed", "report.html", "CPU 0", "GOMAXPROCS=1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("lab --help lacks %q", want)
		}
	}
	// The hidden commands stay out of the command list.
	out.Reset()
	Main([]string{"--help"}, &out, &errb)
	if strings.Contains(out.String(), "lab-server") || strings.Contains(out.String(), "lab-exec") {
		t.Error("hotpath --help lists a hidden lab command")
	}
	if !strings.Contains(out.String(), "lab ") {
		t.Error("hotpath --help does not list lab")
	}
}
