package bare

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// dialGRPC returns a client connection to addr, closed when the test ends.
func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestGRPCNow: the bare grpc-go server answers Now with the current Unix
// milliseconds, and serves nothing else (no health, no other service).
func TestGRPCNow(t *testing.T) {
	conn := dialGRPC(t, start(t, "grpc-go"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := time.Now().UnixMilli()
	resp, err := hotpathv1.NewTimeServiceClient(conn).Now(ctx, &hotpathv1.NowRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ms := resp.GetUnixMs(); ms < before || ms > time.Now().UnixMilli() {
		t.Errorf("Now = %d, want a time within the call (from %d)", ms, before)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"health", func() error {
			_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}},
		{"echo", func() error {
			_, err := hotpathv1.NewEchoServiceClient(conn).Echo(ctx, &hotpathv1.EchoRequest{})
			return err
		}},
	}
	for _, tt := range tests {
		if code := status.Code(tt.call()); code != codes.Unimplemented {
			t.Errorf("%s: code %v, want Unimplemented (a bare server registers TimeService only)", tt.name, code)
		}
	}
}

// TestGRPCStop: cancelling ctx stops the server and Serve returns nil —
// at once when idle, and after the grace bound when a call never ends
// (a health Watch stream), which is then cut off.
func TestGRPCStop(t *testing.T) {
	tests := []struct {
		name  string
		watch bool // hold a stream open across the stop
	}{
		{"idle connection", false},
		{"call outliving the grace", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			gs := newGRPC()
			healthpb.RegisterHealthServer(gs, health.NewServer())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- serveGRPCServer(ctx, ln, gs, 200*time.Millisecond) }()
			conn := dialGRPC(t, ln.Addr().String())
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			if _, err := hotpathv1.NewTimeServiceClient(conn).Now(cctx, &hotpathv1.NowRequest{}); err != nil {
				t.Fatal(err)
			}
			var stream grpc.ServerStreamingClient[healthpb.HealthCheckResponse]
			if tt.watch {
				if stream, err = healthpb.NewHealthClient(conn).Watch(cctx, &healthpb.HealthCheckRequest{}); err != nil {
					t.Fatal(err)
				}
				if _, err := stream.Recv(); err != nil { // the stream is open on the server
					t.Fatal(err)
				}
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve returned %v after cancel, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not return within 10 s of cancel")
			}
			if tt.watch {
				if _, err := stream.Recv(); err == nil {
					t.Fatal("the watch stream is still open after the server stopped")
				}
			}
			if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
				c.Close()
				t.Fatal("the listener still accepts after the server stopped")
			}
		})
	}
}

// TestReportAllocs: each signal writes one "allocs M B" line with the
// process's cumulative allocations, which only grow.
func TestReportAllocs(t *testing.T) {
	var buf syncBuffer
	stop := ReportAllocs(&buf, syscall.SIGUSR1)
	defer stop()
	var last [2]uint64
	for i := range 2 {
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if lines = strings.SplitAfter(buf.String(), "\n"); len(lines) > i+1 {
				break
			}
		}
		if len(lines) <= i+1 {
			t.Fatalf("signal %d: output %q, want %d lines", i+1, buf.String(), i+1)
		}
		var m, b uint64
		if _, err := fmt.Sscanf(lines[i], "allocs %d %d\n", &m, &b); err != nil {
			t.Fatalf("line %q: %v", lines[i], err)
		}
		if m == 0 || b == 0 || m < last[0] || b < last[1] {
			t.Fatalf("line %q after %v: want positive, growing counts", lines[i], last)
		}
		last = [2]uint64{m, b}
	}
}

// syncBuffer is a strings.Builder safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
