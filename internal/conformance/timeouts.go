package conformance

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Short socket timeouts for the timeouts scenario.
const (
	readHeaderTimeout = 200 * time.Millisecond
	readTimeout       = 400 * time.Millisecond
	idleTimeout       = 300 * time.Millisecond
)

// timeoutCase is a connection that stalls: after completing first requests
// (keep-alive) it sends send and waits; the engine must close it, not
// before timeout and not much later.
type timeoutCase struct {
	name    string
	first   int
	send    string
	timeout time.Duration
}

func timeoutCases() []timeoutCase {
	return []timeoutCase{
		{"read-header timeout on a new connection", 0, "GET /time HTTP/1.1\r\nHost: x\r\n", readHeaderTimeout},
		{"idle timeout after a request", 1, "", idleTimeout},
		{"idle timeout after many requests", 50, "", idleTimeout},
		{"read-header timeout on a kept-alive connection", 3, "GET /time HTTP/1.1\r\nHost: x\r\n", readHeaderTimeout},
		{"read timeout for the body", 0, "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + Token +
			"\r\nContent-Length: 60\r\n\r\nabc", readTimeout},
	}
}

// runTimeouts checks --read-header-timeout, --read-timeout and
// --idle-timeout on stalled connections. Engines may keep socket deadlines
// coarse (internal/connlimit), so a timeout only has to fire at all (within
// 10 s) and never early. Requests back to back on one connection also
// exercise the engines' per-request deadline moves (net/http's background
// read and its abort).
func runTimeouts(t *testing.T, f Factory, except map[string]string) {
	cfg := baseConfig()
	cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.IdleTimeout = readHeaderTimeout, readTimeout, idleTimeout
	r := start(t, f, cfg)
	host := strings.TrimPrefix(r.url, "http://")
	for _, tc := range timeoutCases() {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := except[tc.name]; ok {
				t.Skipf("engine exception: %s", why)
			}
			c, err := net.DialTimeout("tcp", host, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i := range tc.first {
				if _, err := io.WriteString(c, "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				_, err = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("request %d: status %d, %v", i+1, res.StatusCode, err)
				}
			}
			start := time.Now() // idle cases: the last response was just read
			if tc.send != "" {
				if _, err := io.WriteString(c, tc.send); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, br) // until the engine closes (it may answer first)
			elapsed := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the stalled connection was still open after 10 s (timeout %v)", tc.timeout)
			}
			if elapsed < tc.timeout-20*time.Millisecond {
				t.Fatalf("closed after %v: the %v timeout fired early", elapsed, tc.timeout)
			}
		})
	}
}
