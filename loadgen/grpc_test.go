package loadgen

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/hotpath-dev/hotpath/rpc"
)

// grpcServer runs hotpath's gRPC server on 127.0.0.1:0 and returns its URL.
func grpcServer(t *testing.T, cfg rpc.Config) string {
	t.Helper()
	s, err := rpc.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestGRPCUnaryLoad(t *testing.T) {
	seen := make(chan string, 1000)
	probe := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get("x-bench"); len(v) == 1 {
			seen <- v[0]
		}
		return h(ctx, req)
	}
	url := grpcServer(t, rpc.Config{UnaryInterceptors: []grpc.UnaryServerInterceptor{probe}})
	cases := []struct {
		name, call, body string
	}{
		{"Now with empty body", "hotpath.v1.TimeService/Now", ""},
		{"Echo with JSON body and leading slash", "/hotpath.v1.EchoService/Echo", `{"message":"hi"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewGRPCTransport(context.Background(), GRPCConfig{
				URL: url, Call: tc.call, Request: []byte(tc.body), Streams: 4,
				Headers: []Header{{Name: "X-Bench", Value: "1"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			res := mustRun(t, Config{URL: url, Connections: 2, Streams: 4, Requests: 300, Transport: tr})
			if res.Requests != 300 || res.Successes != 300 || res.Errors != 0 {
				t.Errorf("requests %d successes %d errors %d, want 300/300/0 (status %v, classes %v)",
					res.Requests, res.Successes, res.Errors, res.Status, res.ErrorClasses)
			}
			if res.Protocol != "grpc" {
				t.Errorf("protocol %q", res.Protocol)
			}
			if got := <-seen; got != "1" {
				t.Errorf("metadata x-bench = %q", got)
			}
			for len(seen) > 0 {
				<-seen
			}
		})
	}
}

// A call the server refuses is a response with an error status, counted as
// an error, not a transport failure.
func TestGRPCErrorStatusIsCounted(t *testing.T) {
	url := grpcServer(t, rpc.Config{AuthToken: "secret"})
	tr, err := NewGRPCTransport(context.Background(), GRPCConfig{URL: url, Call: "hotpath.v1.TimeService/Now"})
	if err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, Config{URL: url, Connections: 1, Requests: 20, Transport: tr})
	if res.Errors != 20 || res.Status["401"] != 20 {
		t.Errorf("errors %d status %v, want 20 × 401 (UNAUTHENTICATED)", res.Errors, res.Status)
	}
}

func TestGRPCTransportBadInput(t *testing.T) {
	url := grpcServer(t, rpc.Config{})
	cases := []struct {
		name string
		cfg  GRPCConfig
		want string
	}{
		{"no method", GRPCConfig{URL: url, Call: "hotpath.v1.TimeService"}, "package.Service/Method"},
		{"unknown method", GRPCConfig{URL: url, Call: "hotpath.v1.TimeService/Later"}, "no method Later"},
		{"streaming method", GRPCConfig{URL: url, Call: "hotpath.v1.EchoService/EchoStream"}, "streaming"},
		{"invalid JSON", GRPCConfig{URL: url, Call: "hotpath.v1.EchoService/Echo", Request: []byte(`{"message":`)}, "request for"},
		{"unknown field", GRPCConfig{URL: url, Call: "hotpath.v1.EchoService/Echo", Request: []byte(`{"nope":1}`)}, "request for"},
		{"bad scheme", GRPCConfig{URL: "grpc://x:1", Call: "a.B/C"}, "http://host:port"},
		{"negative streams", GRPCConfig{URL: url, Call: "a.B/C", Streams: -1}, "streams"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewGRPCTransport(context.Background(), tc.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
}

// A service hotpath does not know is resolved through server reflection.
func TestGRPCReflection(t *testing.T) {
	url := grpcServer(t, rpc.Config{})
	tr := &grpcTransport{target: strings.TrimPrefix(url, "http://"), creds: insecure.NewCredentials(), timeout: 10 * time.Second}
	files, err := tr.reflect(context.Background(), "hotpath.v1.EchoService")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.FindDescriptorByName("hotpath.v1.EchoService.Echo"); err != nil {
		t.Errorf("reflected files lack Echo: %v", err)
	}
	if _, err := tr.reflect(context.Background(), "no.such.Service"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown service by reflection: %v, want ErrConfig", err)
	}
}

func TestGRPCUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, err = NewGRPCTransport(context.Background(), GRPCConfig{URL: "http://" + addr, Call: "other.v1.Svc/M", Timeout: 2 * time.Second})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("reflection against a closed port: %v, want ErrUnreachable", err)
	}
}
