package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"github.com/hotpath-dev/hotpath/serve"
	"github.com/hotpath-dev/hotpath/server"
)

// startShared runs serve.New (net/http with gRPC) on a free loopback port and returns
// its address, a cancel that starts the graceful shutdown, and a channel
// with its result.
func startShared(t *testing.T, cfg server.Config) (addr string, stop context.CancelFunc, done <-chan error) {
	t.Helper()
	cfg.Addr = freeAddr(t)
	cfg.AdminAddr = server.AdminOff
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s, err := serve.New(cfg, serve.Options{GRPC: true, Log: slog.New(slog.DiscardHandler), AccessLog: io.Discard})
		if err == nil {
			err = s.Run(ctx)
		}
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + cfg.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if cfg.TLSSelfSigned {
			break // plain HTTP is not spoken there; the tests' own clients retry
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return cfg.Addr, cancel, errc
}

func dialGRPC(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestServeGRPCAndHTTPShareThePort(t *testing.T) {
	tests := []struct {
		name   string
		cfg    server.Config
		creds  credentials.TransportCredentials
		scheme string
		client *http.Client
	}{
		{"cleartext: gRPC over h2c beside HTTP/1.1", server.Config{}, insecure.NewCredentials(), "http", &http.Client{}},
		{"TLS: gRPC and HTTP/2 both negotiate h2 by ALPN", server.Config{TLSSelfSigned: true},
			credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}), "https",
			&http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _, _ := startShared(t, tt.cfg)
			defer tt.client.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cc := dialGRPC(t, addr, tt.creds)
			before := time.Now().UnixMilli()
			now, err := hotpathv1.NewTimeServiceClient(cc).Now(ctx, &hotpathv1.NowRequest{}, grpc.WaitForReady(true))
			if err != nil {
				t.Fatalf("gRPC Now: %v", err)
			}
			if ms := now.GetUnixMs(); ms < before || ms > time.Now().UnixMilli() {
				t.Errorf("gRPC Now = %d, want within [%d, now]", ms, before)
			}

			resp, err := tt.client.Get(tt.scheme + "://" + addr + "/v1/time")
			if err != nil {
				t.Fatalf("GET /v1/time: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /v1/time: %d %s", resp.StatusCode, body)
			}
			if tt.scheme == "https" && resp.ProtoMajor != 2 {
				t.Errorf("GET /v1/time over TLS used HTTP/%d, want 2", resp.ProtoMajor)
			}
			var v struct{ UnixMs string }
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("gateway body %q: %v", body, err)
			}
			if ms, err := strconv.ParseInt(v.UnixMs, 10, 64); err != nil || ms < now.GetUnixMs() {
				t.Errorf("gateway unixMs %q, want ≥ gRPC's %d", v.UnixMs, now.GetUnixMs())
			}
			if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 {
				t.Errorf("X-Request-Id values %q: the HTTP chain and the gateway must agree on one", ids)
			}

			resp, err = tt.client.Get(tt.scheme + "://" + addr + "/time")
			if err != nil {
				t.Fatalf("GET /time: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET /time: %d", resp.StatusCode)
			}
		})
	}
}

func TestServeGRPCHealthFlipsOnDrain(t *testing.T) {
	addr, stop, done := startShared(t, server.Config{DrainDelay: 400 * time.Millisecond})
	cc := dialGRPC(t, addr, insecure.NewCredentials())
	hc := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatalf("health check: %v", err)
		}
		return r.GetStatus()
	}
	if s := check(); s != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("before drain: %v, want SERVING", s)
	}
	stop()
	deadline := time.Now().Add(300 * time.Millisecond) // inside the drain delay
	for s := check(); s != healthpb.HealthCheckResponse_NOT_SERVING; s = check() {
		if time.Now().After(deadline) {
			t.Fatalf("during drain: %v, want NOT_SERVING", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("/readyz during drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during drain: %d, want 503", resp.StatusCode)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v, want nil after a clean drain", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after the drain")
	}
}

func TestServeGRPCRefusedOnOtherEngines(t *testing.T) {
	for _, engine := range []string{"nbio"} {
		var out, errb strings.Builder
		code := Main([]string{"serve", "--engine", engine, "--grpc", "--print-config"}, &out, &errb)
		if code != ExitUsage || !strings.Contains(errb.String(), "--grpc") || !strings.Contains(errb.String(), engine) {
			t.Errorf("%s with --grpc: exit %d, stderr %q; want exit 2 naming --grpc and the engine", engine, code, errb.String())
		}
		out.Reset()
		errb.Reset()
		if code := Main([]string{"serve", "--engine", engine, "--print-config"}, &out, &errb); code != ExitOK || !strings.Contains(out.String(), "grpc ") {
			t.Errorf("%s without --grpc: exit %d (%s); gRPC must default to off there", engine, code, errb.String())
		}
	}
}

// TestServeAuthRoutesGuardGRPCMethods: --auth-routes is one list for both
// protocols; a gRPC method is guarded when a route covers its path.
func TestServeAuthRoutesGuardGRPCMethods(t *testing.T) {
	tests := []struct {
		name              string
		routes            []string
		wantNow, wantEcho codes.Code
	}{
		{"default * guards every method", nil, codes.Unauthenticated, codes.Unauthenticated},
		{"an HTTP path guards no method", []string{"/echo"}, codes.OK, codes.OK},
		{"a service subtree guards that service", []string{"/hotpath.v1.EchoService/"}, codes.OK, codes.Unauthenticated},
		{"an exact method", []string{"/hotpath.v1.TimeService/Now"}, codes.Unauthenticated, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _, _ := startShared(t, server.Config{AuthTokens: []string{"s3cret"}, AuthRoutes: tt.routes})
			cc := dialGRPC(t, addr, insecure.NewCredentials())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := hotpathv1.NewTimeServiceClient(cc).Now(ctx, &hotpathv1.NowRequest{})
			if status.Code(err) != tt.wantNow {
				t.Errorf("Now without a token: %v, want %v", err, tt.wantNow)
			}
			_, err = hotpathv1.NewEchoServiceClient(cc).Echo(ctx, &hotpathv1.EchoRequest{})
			if status.Code(err) != tt.wantEcho {
				t.Errorf("Echo without a token: %v, want %v", err, tt.wantEcho)
			}
			authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret")
			if _, err := hotpathv1.NewEchoServiceClient(cc).Echo(authed, &hotpathv1.EchoRequest{}); err != nil {
				t.Errorf("Echo with the token: %v", err)
			}
		})
	}
}

// TestServeSharedPortServesHTTPOverH2C: the port shared with gRPC speaks h2c,
// so a plain HTTP request over h2c (prior knowledge) is served, not closed,
// without --h2c.
func TestServeSharedPortServesHTTPOverH2C(t *testing.T) {
	addr, _, _ := startShared(t, server.Config{})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/time")
	if err != nil {
		t.Fatalf("GET /time over h2c: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("GET /time over h2c: %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	if _, err := strconv.ParseInt(string(body), 10, 64); err != nil {
		t.Errorf("body %q is not Unix milliseconds", body)
	}
}
