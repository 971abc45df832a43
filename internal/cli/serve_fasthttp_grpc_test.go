package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/hotpath-dev/hotpath/middleware"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// fastGRPC is `hotpath serve --engine fasthttp` (gRPC on by default) in
// a child process, so that fasthttp's process-wide goroutines stay out of
// this one's leak check.
type fastGRPC struct {
	addr, admin string
	cmd         *exec.Cmd
	stderr      *lockedBuffer
}

// runFastGRPC starts the server on free loopback ports with extra flags and
// waits until it is ready.
func runFastGRPC(t *testing.T, args ...string) *fastGRPC {
	t.Helper()
	f := &fastGRPC{addr: freeAddr(t), admin: freeAddr(t)}
	f.cmd, f.stderr = serveProcess(t, f.addr, append([]string{"--engine", "fasthttp", "--addr", f.addr, "--admin-addr", f.admin}, args...)...)
	return f
}

// get1 sends GET url over HTTP/1.1 and returns the response and its body.
func get1(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// With --engine fasthttp, one port serves gRPC (h2c), the JSON gateway and
// the service over HTTP/1.1, with one request ID per gateway call and the
// HTTP metrics recorded.
func TestServeFastHTTPGRPCSharesThePort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	f := runFastGRPC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc := dialGRPC(t, f.addr, insecure.NewCredentials())
	now, err := hotpathv1.NewTimeServiceClient(cc).Now(ctx, &hotpathv1.NowRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("gRPC Now: %v", err)
	}
	echo, err := hotpathv1.NewEchoServiceClient(cc).Echo(metadata.AppendToOutgoingContext(ctx, "x-tenant", "blue"),
		&hotpathv1.EchoRequest{Message: "hi", Data: []byte{1, 2}})
	if err != nil || echo.GetMessage() != "hi" || echo.GetMetadata()["x-tenant"] != "blue" {
		t.Fatalf("gRPC Echo: %v %v", echo, err)
	}

	resp, body := get1(t, "http://"+f.addr+"/v1/time")
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/time: %d %s %q %s", resp.StatusCode, resp.Proto, resp.Header.Get("Content-Type"), body)
	}
	var v struct{ UnixMs string }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("gateway body %q: %v", body, err)
	}
	if ms, err := strconv.ParseInt(v.UnixMs, 10, 64); err != nil || ms < now.GetUnixMs() {
		t.Errorf("gateway unixMs %q, want ≥ gRPC's %d", v.UnixMs, now.GetUnixMs())
	}
	if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 || ids[0] == "" {
		t.Errorf("X-Request-Id values %q: the engine's chain and the gateway must agree on one", ids)
	}
	if resp, body := get1(t, "http://"+f.addr+"/time"); resp.StatusCode != 200 {
		t.Errorf("GET /time: %d %s", resp.StatusCode, body)
	}
	if resp, body := get1(t, "http://"+f.addr+"/v1/nothing"); resp.StatusCode != 404 || !strings.Contains(string(body), `"code":5`) {
		t.Errorf("GET /v1/nothing: %d %s, want the gateway's 404", resp.StatusCode, body)
	}

	_, metrics := get1(t, "http://"+f.admin+"/metrics")
	want := middleware.MetricRequests + `{code="200",method="GET",route="/v1/"} 1`
	if !strings.Contains(string(metrics), want) {
		t.Errorf("admin /metrics lacks %s", want)
	}
}

func TestServeFastHTTPGRPCHealthFlipsOnDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	f := runFastGRPC(t, "--drain-delay", "400ms")
	hc := healthpb.NewHealthClient(dialGRPC(t, f.addr, insecure.NewCredentials()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("before drain: %v %v, want SERVING", r.GetStatus(), err)
	}
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond) // inside the drain delay
	for {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health check during drain: %v", err)
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("during drain: %v, want NOT_SERVING", r.GetStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, _ := get1(t, "http://"+f.addr+"/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during drain: %d, want 503", resp.StatusCode)
	}
	if err := f.cmd.Wait(); err != nil {
		t.Fatalf("exit %v after a clean drain, want 0; stderr:\n%s", err, f.stderr.String())
	}
	for _, line := range []string{"gRPC on the public port", "engine=fasthttp", "stopped"} {
		if !strings.Contains(f.stderr.String(), line) {
			t.Errorf("stderr lacks %q:\n%s", line, f.stderr.String())
		}
	}
}

// fasthttp has no HTTP/2: a plain (non-gRPC) h2c connection, which portmux
// hands to the HTTP side, gets GOAWAY HTTP_1_1_REQUIRED and is closed, so
// the client fails at once with a reason instead of hanging.
func TestServeFastHTTPGRPCRefusesPlainH2C(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	f := runFastGRPC(t)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + f.addr + "/time")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET /time over h2c: %s %d, want a refusal", resp.Proto, resp.StatusCode)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("GET /time over h2c timed out (%v); want an immediate refusal", err)
	}
	if !strings.Contains(err.Error(), "HTTP_1_1_REQUIRED") {
		t.Errorf("GET /time over h2c: %v; want GOAWAY HTTP_1_1_REQUIRED", err)
	}
	if resp, _ := get1(t, "http://"+f.addr+"/time"); resp.StatusCode != 200 { // the server goes on
		t.Errorf("GET /time over HTTP/1.1 after the refusal: %d", resp.StatusCode)
	}
}

// Which engines take --grpc, what --print-config says about h2c, and the
// start-up errors of what fasthttp cannot do.
func TestServeGRPCEngineFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string // lines of --print-config, or words of the error
	}{
		{"nethttp: gRPC on by default, h2c shown on", []string{"--engine", "nethttp", "--print-config"}, ExitOK,
			[]string{"grpc                       true", "h2c                        true"}},
		{"fasthttp: gRPC on by default, no h2c", []string{"--engine", "fasthttp", "--print-config"}, ExitOK,
			[]string{"grpc                       true", "h2c                        false"}},
		{"fasthttp takes an explicit --grpc", []string{"--engine", "fasthttp", "--grpc", "--print-config"}, ExitOK,
			[]string{"grpc                       true"}},
		{"nbio: gRPC off by default", []string{"--engine", "nbio", "--print-config"}, ExitOK,
			[]string{"grpc                       false"}},
		{"nbio refuses --grpc, naming the engine", []string{"--engine", "nbio", "--grpc", "--print-config"}, ExitUsage,
			[]string{"--grpc", `"nbio"`}},
		{"fasthttp with gRPC refuses TLS, naming option and engine", []string{"--engine", "fasthttp", "--tls-self-signed",
			"--addr", "127.0.0.1:0", "--admin-addr", "off"}, ExitUsage, []string{"tls-self-signed", "fasthttp"}},
		{"fasthttp with gRPC refuses --h2c", []string{"--engine", "fasthttp", "--h2c",
			"--addr", "127.0.0.1:0", "--admin-addr", "off"}, ExitUsage, []string{"h2c", "fasthttp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := Main(append([]string{"serve"}, tt.args...), &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.wantCode, errb.String())
			}
			got := out.String()
			if code != ExitOK {
				got = errb.String()
				if n := strings.Count(strings.TrimSpace(got), "\n"); n != 0 {
					t.Errorf("stderr has %d lines, want one: %q", n+1, got)
				}
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}
}
