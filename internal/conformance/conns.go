package conformance

import (
	"bufio"
	"errors"
	"io"
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

// runConnectionClose checks a request with Connection: close: it is answered
// with Connection: close, a request pipelined behind it gets no answer, and
// the engine then closes the connection (the client reads end of stream,
// not a reset that could destroy the answer).
func runConnectionClose(t *testing.T, f Factory) {
	r := start(t, f, baseConfig())
	host := strings.TrimPrefix(r.url, "http://")
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /json HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n" +
		"GET /time HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("first response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !strings.Contains(string(body), "Hello, World!") {
		t.Fatalf("first response: %d %q %v; want 200 and the JSON body", res.StatusCode, body, err)
	}
	if !res.Close { // ReadResponse turns the Connection: close header into Close
		t.Errorf("first response does not say Connection: close (header %q)", res.Header)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("after the response: %v (read %q); want end of stream", err, rest)
	}
	if len(rest) != 0 {
		t.Errorf("the request pipelined behind Connection: close was answered: %q", rest)
	}
}
