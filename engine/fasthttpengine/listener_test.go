package fasthttpengine

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/hotpath-dev/hotpath/server"
)

// TestWithListenerAndOnDrain serves on a caller's listener (the shared-port
// hook): the admin address is still bound, Addr is the listener's, drain
// hooks run once readiness is 503, and the listener is closed at shutdown.
func TestWithListenerAndOnDrain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(server.Config{Addr: "127.0.0.1:1", AdminAddr: "127.0.0.1:0"}, server.WithListener(ln))
	if err != nil {
		t.Fatal(err)
	}
	RegisterService(s)
	drained := make(chan bool, 1)
	s.OnDrain(func() { drained <- !s.Readiness().Ready() })
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if s.Addr().String() != ln.Addr().String() || s.AdminAddr() == nil {
		t.Fatalf("Addr %v (want %v), AdminAddr %v (want bound)", s.Addr(), ln.Addr(), s.AdminAddr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/time")
	if err != nil {
		t.Fatalf("GET /time on the given listener: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /time on the given listener: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case notReady := <-drained:
		if !notReady {
			t.Error("OnDrain ran before readiness turned 503")
		}
	default:
		t.Error("OnDrain hook did not run")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the given listener is still open after shutdown")
	}
}

// A Run that cannot bind the admin address leaves the given listener closed.
func TestWithListenerRunFailureClosesIt(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(server.Config{AdminAddr: busy.Addr().String()}, server.WithListener(ln))
	if err != nil {
		t.Fatal(err)
	}
	var le *server.ListenError
	if err := s.Run(context.Background()); !errors.As(err, &le) {
		t.Fatalf("Run = %v, want a *server.ListenError for the admin address", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the given listener is still open after Run failed")
	}
}
