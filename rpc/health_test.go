package rpc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestHealthFollowsReady: with Config.Ready, grpc.health.v1 answers
// NOT_SERVING while Ready is false and SERVING again once it is true, for
// the server and each service, on grpc-go's transport and through
// ServeHTTP; SetServing(false) (draining) wins over a true Ready.
func TestHealthFollowsReady(t *testing.T) {
	cases := []struct {
		name  string
		serve func(t *testing.T, srv *Server, ln net.Listener)
	}{
		{"grpc-go transport", func(t *testing.T, srv *Server, ln net.Listener) {
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			t.Cleanup(func() {
				srv.Stop()
				if err := <-done; err != nil {
					t.Errorf("Serve: %v", err)
				}
			})
		}},
		{"ServeHTTP", func(t *testing.T, srv *Server, ln net.Listener) {
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, Protocols: new(http.Protocols)}
			hs.Protocols.SetUnencryptedHTTP2(true)
			done := make(chan error, 1)
			go func() { done <- hs.Serve(ln) }()
			t.Cleanup(func() {
				_ = hs.Close()
				if err := <-done; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
				srv.Stop()
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ready atomic.Bool
			ready.Store(true)
			srv, err := New(Config{Ready: ready.Load}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tc.serve(t, srv, ln)
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			hc := healthpb.NewHealthClient(conn)
			for _, svc := range []string{"", "hotpath.v1.TimeService"} {
				waitHealth(t, hc, svc, healthpb.HealthCheckResponse_SERVING)
			}
			ready.Store(false)
			for _, svc := range []string{"", "hotpath.v1.TimeService"} {
				waitHealth(t, hc, svc, healthpb.HealthCheckResponse_NOT_SERVING)
			}
			ready.Store(true)
			waitHealth(t, hc, "", healthpb.HealthCheckResponse_SERVING)
			srv.SetServing(false)
			checkHealth(t, hc, "", healthpb.HealthCheckResponse_NOT_SERVING) // at once
			time.Sleep(2 * readyPoll)                                        // the watcher does not undo it
			checkHealth(t, hc, "", healthpb.HealthCheckResponse_NOT_SERVING)
		})
	}
}

// TestHealthReadyNotServed: a Server with Ready that is never served has
// no goroutine to stop (goleak checks), and Stop returns.
func TestHealthReadyNotServed(t *testing.T) {
	srv, err := New(Config{Ready: func() bool { return true }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv.Stop()
}

func checkHealth(t *testing.T, hc healthpb.HealthClient, svc string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
	if err != nil || resp.GetStatus() != want {
		t.Fatalf("Check(%q) = %v, %v; want %v", svc, resp.GetStatus(), err, want)
	}
}

// waitHealth polls Check until it answers want, for at most 3 s (Ready is
// checked every 250 ms).
func waitHealth(t *testing.T, hc healthpb.HealthClient, svc string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		cancel()
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Check(%q) = %v, %v; want %v within 3 s", svc, resp.GetStatus(), err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
