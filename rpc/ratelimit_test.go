package rpc

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// With RateLimit, native calls past a client's burst are refused with
// RESOURCE_EXHAUSTED and a retry-after header, unary and streaming alike;
// gateway calls do not spend the gRPC budget (the HTTP server in front
// limits them). Before RateLimit existed, hotpath serve's --rate-limit
// left native gRPC unlimited: a client refused with 429 on HTTP switched
// to gRPC on the same port.
func TestRateLimit(t *testing.T) {
	ts := start(t, Config{RateLimit: 0.01, RateBurst: 2}, false) // no refill within the test
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := hotpathv1.NewTimeServiceClient(ts.conn)
	for i := range 2 {
		if _, err := client.Now(ctx, &hotpathv1.NowRequest{}); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	var hdr metadata.MD
	_, err := client.Now(ctx, &hotpathv1.NowRequest{}, grpc.Header(&hdr))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third call: %v, want RESOURCE_EXHAUSTED", err)
	}
	if v := hdr.Get("retry-after"); len(v) != 1 {
		t.Errorf("retry-after header %q, want one value", v)
	} else if n, err := strconv.Atoi(v[0]); err != nil || n < 1 {
		t.Errorf("retry-after %q, want whole seconds >= 1", v[0])
	}
	stream, err := hotpathv1.NewEchoServiceClient(ts.conn).EchoStream(ctx)
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a stream past the burst: %v, want RESOURCE_EXHAUSTED", err)
	}
	// The gateway's calls are the HTTP side's to limit.
	for i := range 5 {
		resp, body := doHTTP(t, http.MethodGet, ts.http+"/v1/time", "", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("gateway call %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
}

func TestRateLimitConfigRefused(t *testing.T) {
	if _, err := New(Config{RateLimit: -1}, nil); err == nil {
		t.Fatal("New accepted RateLimit -1")
	}
}
