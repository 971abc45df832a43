package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestTimeoutsFire checks, through a running server, that the coarse socket
// deadlines (internal/connlimit) still close connections that stall: never
// before the timeout, and at all (the client waits much longer than the
// timeout plus its slack). It also runs requests back to back on one
// connection, which exercises net/http's background read and its abort (a
// deadline in the past that must interrupt a blocked read at once).
func TestTimeoutsFire(t *testing.T) {
	const (
		readHeader = 200 * time.Millisecond
		read       = 400 * time.Millisecond
		idle       = 300 * time.Millisecond
	)
	ts := start(t, Config{ReadHeaderTimeout: readHeader, ReadTimeout: read, IdleTimeout: idle, AdminAddr: AdminOff}, nil)
	addr := strings.TrimPrefix(ts.url, "http://")
	const request = "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"

	// readResponse reads one response with a body of Content-Length bytes.
	readResponse := func(t *testing.T, br *bufio.Reader) {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil || !strings.Contains(line, " 200 ") {
			t.Fatalf("response: %q, %v", line, err)
		}
		n := 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
			if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
				for _, c := range strings.TrimSpace(v) {
					n = n*10 + int(c-'0')
				}
			}
		}
		if _, err := io.ReadFull(br, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name    string
		first   int    // complete this many requests first (keep-alive connection)
		send    string // then send this and stall
		timeout time.Duration
	}{
		{"read-header timeout on a new connection", 0, "GET /time HTTP/1.1\r\nHost:", readHeader},
		{"idle timeout after a request", 1, "", idle},
		{"idle timeout after many requests", 50, "", idle},
		{"read-header timeout on a kept-alive connection", 3, "GET /time HTTP/1.1\r\nHost:", readHeader},
		{"read timeout for the body", 0, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", read},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for range tc.first {
				if _, err := io.WriteString(c, request); err != nil {
					t.Fatal(err)
				}
				readResponse(t, br)
			}
			start := time.Now() // for the idle cases: the last response was just read
			if tc.send != "" {
				if _, err := io.WriteString(c, tc.send); err != nil {
					t.Fatal(err)
				}
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
