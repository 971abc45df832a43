package conformance

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// runMaxConns checks --max-connections: with a cap of 1, a second
// connection is not served (it waits in the accept queue, it is not refused
// or answered with an error) until the first one closes.
func runMaxConns(t *testing.T, f Factory) {
	cfg := baseConfig()
	cfg.MaxConnections = 1
	r := start(t, f, cfg)
	host := strings.TrimPrefix(r.url, "http://")

	first := dialGet(t, host)
	defer first.Close()
	if err := readStatus(first, 5*time.Second, 200); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	second := dialGet(t, host)
	defer second.Close()
	err := readStatus(second, 300*time.Millisecond, 200)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second connection while the first is open: %v; want no answer yet", err)
	}
	first.Close()
	if err := readStatus(second, 10*time.Second, 200); err != nil {
		t.Fatalf("second connection after the first closed: %v; want 200", err)
	}
}

// dialGet opens a connection and sends GET /time on it.
func dialGet(t *testing.T, host string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET /time HTTP/1.1\r\nHost: " + host + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	return c
}

// readStatus reads one response from c within d and checks its status.
func readStatus(c net.Conn, d time.Duration, want int) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != want {
		return errorf("status %d, want %d", res.StatusCode, want)
	}
	return nil
}
