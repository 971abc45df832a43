package cli

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServeEnginesBadInput(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"h2c on fasthttp", []string{"--engine", "fasthttp", "--h2c"}, []string{"h2c", "fasthttp engine"}},
		{"TLS on fasthttp", []string{"--engine", "fasthttp", "--tls-self-signed"}, []string{"tls-self-signed", "fasthttp engine"}},
		{"h2c on nbio", []string{"--engine", "nbio", "--h2c"}, []string{"h2c", "nbio engine"}},
		{"TLS on nbio", []string{"--engine", "nbio", "--tls-self-signed"}, []string{"tls-self-signed", "nbio engine"}},
		{"port in use on fasthttp", []string{"--engine", "fasthttp", "--addr", busy.Addr().String()}, []string{"address already in use"}},
		{"port in use on nbio", []string{"--engine", "nbio", "--addr", busy.Addr().String()}, []string{"address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, admin := freeAddr(t), freeAddr(t)
			args := append([]string{"serve", "--addr", addr, "--admin-addr", admin}, tt.args...)
			var out, errb bytes.Buffer
			if code := Main(args, &out, &errb); code != ExitUsage {
				t.Fatalf("exit code = %d, want %d (stderr %q)", code, ExitUsage, errb.String())
			}
			msg := errb.String()
			if strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr is not exactly one line: %q", msg)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("stderr %q lacks %q", msg, w)
				}
			}
			assertFree(t, addr)
			assertFree(t, admin)
		})
	}
}

// TestServeEnginesSIGTERM runs `hotpath serve --engine X` as a process for
// each extra engine: it serves, drains a request in flight on SIGTERM and
// exits 0 with nothing left listening.
func TestServeEnginesSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, engine := range []string{"fasthttp", "nbio"} {
		t.Run(engine, func(t *testing.T) {
			addr, admin := freeAddr(t), freeAddr(t)
			cmd, stderr := serveProcess(t, addr, "--engine", engine, "--addr", addr, "--admin-addr", admin, "--drain-delay", "200ms")
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			if r := get(tr, "http://"+addr+"/json"); r.err != nil || r.code != 200 {
				t.Fatalf("/json on %s: %d %v", engine, r.code, r.err)
			}
			slow := make(chan getResult, 1)
			go func() { slow <- get(tr, "http://"+addr+"/delay?ms=1000") }()
			waitInFlight(t, admin)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if r := <-slow; r.err != nil || r.code != 200 || r.body != "ok\n" {
				t.Errorf("in-flight /delay = %d %q %v, want 200 ok", r.code, r.body, r.err)
			}
			err := cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); err != nil || code != 0 {
				t.Fatalf("exit = %v (code %d), want 0; stderr:\n%s", err, code, stderr.String())
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still accepting after exit", addr)
			}
			for _, line := range []string{"engine=" + engine, "shutting down", "stopped"} {
				if !strings.Contains(stderr.String(), line) {
					t.Errorf("stderr lacks %q:\n%s", line, stderr.String())
				}
			}
		})
	}
}
