package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
)

// TestHardenedMatchesHotpath holds the constants written out in main.go to
// hotpath's defaults: the baseline is only fair while they agree.
func TestHardenedMatchesHotpath(t *testing.T) {
	srv := newServer("", nil, true)
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"read-header", srv.ReadHeaderTimeout, server.DefaultReadHeaderTimeout},
		{"read", srv.ReadTimeout, server.DefaultReadTimeout},
		{"write", srv.WriteTimeout, server.DefaultWriteTimeout},
		{"idle", srv.IdleTimeout, server.DefaultIdleTimeout},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s timeout %v, want hotpath's %v", tt.name, tt.got, tt.want)
		}
	}
	if srv.MaxHeaderBytes != server.DefaultMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes %d, want hotpath's %d", srv.MaxHeaderBytes, server.DefaultMaxHeaderBytes)
	}
	plain := newServer("", nil, false)
	if plain.ReadHeaderTimeout != 0 || plain.ReadTimeout != 0 || plain.WriteTimeout != 0 || plain.IdleTimeout != 0 || plain.MaxHeaderBytes != 0 {
		t.Errorf("plain server is not on net/http's defaults: %+v", plain)
	}
}

// serve starts srv on 127.0.0.1:0 and returns its address; the server is
// closed when the test ends.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		// Shutdown, not Close: it waits for a connection net/http is still
		// lingering on after a 431 (closeWriteAndWait sleeps 500 ms), which
		// goleak would otherwise find.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
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

// TestHardenedHeaderLimit: the hardened server refuses headers over hotpath's
// 16 KiB (plus net/http's 4 KiB of slack) with 431, which the plain one, at
// net/http's 1 MiB, serves.
func TestHardenedHeaderLimit(t *testing.T) {
	hard := serve(t, newServer("", newMux(), true))
	plain := serve(t, newServer("", newMux(), false))
	tests := []struct {
		name string
		addr string
		size int
		want int
	}{
		{"hardened serves 8 KiB of headers", hard, 8 << 10, 200},
		{"hardened refuses 64 KiB of headers", hard, 64 << 10, 431},
		{"plain serves 64 KiB of headers", plain, 64 << 10, 200},
	}
	for _, tt := range tests {
		if got := status(t, tt.addr, tt.size); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
}
