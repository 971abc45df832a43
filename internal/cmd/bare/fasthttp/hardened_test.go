package main

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's worker-pool cleaner sleeps out its interval after
		// Shutdown, and its date updater runs for the process's lifetime.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

// TestHardenedMatchesHotpath holds the constants written out in main.go to
// hotpath's defaults: the baseline is only fair while they agree.
func TestHardenedMatchesHotpath(t *testing.T) {
	srv := newServer(true)
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"read-header (ReadTimeout)", srv.ReadTimeout, server.DefaultReadHeaderTimeout},
		{"read (HeaderReceived)", srv.HeaderReceived(nil).ReadTimeout, server.DefaultReadTimeout},
		{"write", srv.WriteTimeout, server.DefaultWriteTimeout},
		{"idle", srv.IdleTimeout, server.DefaultIdleTimeout},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s timeout %v, want hotpath's %v", tt.name, tt.got, tt.want)
		}
	}
	plain := newServer(false)
	if plain.ReadTimeout != 0 || plain.HeaderReceived != nil || plain.WriteTimeout != 0 || plain.IdleTimeout != 0 || plain.ReadBufferSize != 0 {
		t.Error("plain server is not on fasthttp's defaults")
	}
}

// serve starts srv on 127.0.0.1:0 and returns its address; the server is
// shut down when the test ends.
func serve(t *testing.T, srv *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return ln.Addr().String()
}

// status sends a GET /time with a header of n bytes and returns the status.
func status(t *testing.T, addr string, n int) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET /time HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", n) + "\r\nConnection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHardenedHeaderLimit: the hardened server serves headers up to hotpath's
// 16 KiB, which the plain one (4 KiB read buffer) refuses, and refuses more.
func TestHardenedHeaderLimit(t *testing.T) {
	hard := serve(t, newServer(true))
	plain := serve(t, newServer(false))
	tests := []struct {
		name string
		addr string
		size int
		want int
	}{
		{"hardened serves 12 KiB of headers", hard, 12 << 10, 200},
		{"hardened refuses 64 KiB of headers", hard, 64 << 10, 431},
		{"plain refuses 12 KiB of headers", plain, 12 << 10, 431},
	}
	for _, tt := range tests {
		if got := status(t, tt.addr, tt.size); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
}
