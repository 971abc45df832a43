package rpc

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
)

// Calls served through an HTTP/2 server (Server.ServeHTTP, where portmux
// sends connections whose client waited before its first call) get the
// same admission as grpc-go's transport: a call that never sends its
// request ends at the timeout, and a call beyond the in-flight cap is
// refused with UNAVAILABLE at once.
func TestServeHTTPAdmission(t *testing.T) {
	srv, err := New(Config{Timeout: 300 * time.Millisecond, MaxInFlight: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, Protocols: new(http.Protocols)}
	hs.Protocols.SetUnencryptedHTTP2(true)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	defer func() {
		_ = hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	rc := h2raw.Dial(t, ln.Addr().String(), h2raw.Options{})
	start := time.Now()
	held := rc.OpenGRPC(echoMethod) // no request message, ever
	waitInFlight(t, srv, 1)
	over := rc.OpenGRPC(echoMethod)
	if e := rc.Wait(5*time.Second, over)[over]; e.Status != int(codes.Unavailable) {
		t.Errorf("call beyond MaxInFlight over ServeHTTP: %+v, want UNAVAILABLE", e)
	}
	e := rc.Wait(5*time.Second, held)[held]
	if e.Status != int(codes.DeadlineExceeded) {
		t.Errorf("call without a request over ServeHTTP: %+v, want DEADLINE_EXCEEDED", e)
	}
	if d := e.At.Sub(start); d > 3*time.Second {
		t.Errorf("call without a request ended after %v, timeout 300ms", d)
	}
	waitInFlight(t, srv, 0)
	rc.Close()
}

func TestGRPCTimeoutEncoding(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, 300 * time.Millisecond, 15 * time.Second, 48 * time.Hour, 1e6 * time.Hour} {
		got, err := parseTimeout(grpcTimeout(d))
		if err != nil {
			t.Errorf("grpcTimeout(%v) = %q: %v", d, grpcTimeout(d), err)
			continue
		}
		if got > max(d, time.Millisecond) || (d >= time.Millisecond && d < 1e8*time.Second && got < d-time.Second) {
			t.Errorf("grpcTimeout(%v) = %q, parsed back %v", d, grpcTimeout(d), got)
		}
	}
}
