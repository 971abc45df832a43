package bare

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// start runs the bare server name on 127.0.0.1:0 until the test ends.
func start(t *testing.T, name string) string {
	t.Helper()
	serve, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	return ln.Addr().String()
}

// headerStatus sends GET /time with a header of n bytes and returns the
// status (0 when the server closed the connection without an answer).
func headerStatus(t *testing.T, addr string, n int) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET /time HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", n) + "\r\nConnection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHeaderLimits: the hardened servers serve headers up to hotpath's
// 16 KiB and refuse 64 KiB with 431; the plain ones keep their library's
// limit (net/http 1 MiB, fasthttp its 4 KiB read buffer).
func TestHeaderLimits(t *testing.T) {
	tests := []struct {
		server string
		size   int
		want   int
	}{
		{"nethttp-hardened", 8 << 10, 200},
		{"nethttp-hardened", 64 << 10, 431},
		{"nethttp", 64 << 10, 200},
		{"fasthttp-hardened", 12 << 10, 200},
		{"fasthttp-hardened", 64 << 10, 431},
		{"fasthttp", 12 << 10, 431},
	}
	addrs := map[string]string{}
	for _, tt := range tests {
		if addrs[tt.server] == "" {
			addrs[tt.server] = start(t, tt.server)
		}
		if got := headerStatus(t, addrs[tt.server], tt.size); got != tt.want {
			t.Errorf("%s with %d bytes of header: status %d, want %d", tt.server, tt.size, got, tt.want)
		}
	}
}
