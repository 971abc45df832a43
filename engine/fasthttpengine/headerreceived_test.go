package fasthttpengine

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
)

// TestTimeoutsFire checks, through a running engine, that the coarse
// deadlines still close connections that stall: never before the timeout,
// and at all (the client waits much longer than timeout plus slack).
func TestTimeoutsFire(t *testing.T) {
	const (
		readHeader = 200 * time.Millisecond
		read       = 400 * time.Millisecond
		idle       = 300 * time.Millisecond
	)
	s, err := New(server.Config{
		Addr: "127.0.0.1:0", AdminAddr: server.AdminOff,
		ReadHeaderTimeout: readHeader, ReadTimeout: read, IdleTimeout: idle,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	addr := s.Addr().String()
	const request = "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"

	tests := []struct {
		name    string
		first   bool   // complete one request first (keep-alive connection)
		send    string // then send this and stall
		timeout time.Duration
	}{
		{"read-header timeout on a new connection", false, "GET /time HTTP/1.1\r\nHost:", readHeader},
		{"idle timeout after a request", true, "", idle},
		{"read-header timeout on a kept-alive connection", true, "GET /time HTTP/1.1\r\nHost:", readHeader},
		{"read timeout for the body", false, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", read},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			if tc.first {
				if _, err := io.WriteString(c, request); err != nil {
					t.Fatal(err)
				}
				line, err := br.ReadString('\n')
				if err != nil || !strings.Contains(line, " 200 ") {
					t.Fatalf("first request: %q, %v", line, err)
				}
				// Drain the rest of the response: headers then a short body.
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						t.Fatal(err)
					}
					if l == "\r\n" {
						break
					}
				}
			}
			var start time.Time
			if tc.send != "" {
				start = time.Now()
				if _, err := io.WriteString(c, tc.send); err != nil {
					t.Fatal(err)
				}
			} else {
				start = time.Now() // the response headers were just read: idle from about now
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, br) // until the server closes
			elapsed := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server did not close the stalled connection within 10 s (timeout %v)", tc.timeout)
			}
			if elapsed < tc.timeout-20*time.Millisecond {
				t.Fatalf("closed after %v; the %v timeout fired early", elapsed, tc.timeout)
			}
		})
	}
}

func TestHeaderReceived(t *testing.T) {
	s, err := New(server.Config{AdminAddr: server.AdminOff, ReadTimeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.closeAll()
	tests := []struct {
		name, head string
		want       time.Duration
	}{
		{"GET without a body keeps the read-header deadline", "GET /time HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"Content-Length 0", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0},
		{"a body gets the read timeout", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 7 * time.Second},
		{"a chunked body gets the read timeout", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			if err := h.Read(bufio.NewReader(strings.NewReader(tc.head))); err != nil {
				t.Fatal(err)
			}
			if got := s.headerReceived(&h).ReadTimeout; got != tc.want {
				t.Fatalf("ReadTimeout %v; want %v", got, tc.want)
			}
		})
	}
}
