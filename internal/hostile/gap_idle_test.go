package hostile

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// The idle keep-alive case: idleConns connections (idleConnsTLS over TLS,
// whose handshakes are slower under -race) each make one request and stay
// open, then all send a request at once. idlePerConn bounds what one idle
// connection may add to serve's RSS.
const (
	idleConns    = 2000
	idleConnsTLS = 500
	idlePerConn  = 64 << 10
)

// TestGapIdleKeepAlive: thousands of idle keep-alive connections cost
// serve less than 64 KiB of RSS each, a burst of one request on every one
// of them is answered in full (200, the right body) with the RSS still
// within that bound, and once they close serve's goroutines and
// descriptors are back where they were. Every engine, and TLS, side by
// side: this process holds 6,500 descriptors meanwhile, under the 20,000
// this package's other tests already need.
func TestGapIdleKeepAlive(t *testing.T) {
	// Mostly waiting on serve's timers (here nbio's idle-worker
	// retirement, settleWithin): in parallel with the other gap tests that
	// are, after this package's sequential tests.
	t.Parallel()
	for _, e := range append(append([]gapEngine{}, http1Engines...), tlsEngines[0]) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			n := idleConns
			if e.tls {
				n = idleConnsTLS
			}
			p := e.start(t)
			hc, base := client(t, p, e.tls)
			if err := getOK(hc, base+"/time"); err != nil {
				t.Fatal(err)
			}
			hc.CloseIdleConnections()
			baseG, baseFD, rss0 := p.goroutines(t), p.fds(t), p.rss(t)

			conns := make([]net.Conn, n)
			brs := make([]*bufio.Reader, n)
			for i := range conns {
				conns[i] = dialRaw(t, p.addr, e.tls)
				brs[i] = bufio.NewReader(conns[i])
			}
			// One request each, then idle.
			roundTrip(t, conns, brs, "GET /time HTTP/1.1\r\nHost: x\r\n\r\n", nil)
			time.Sleep(200 * time.Millisecond)
			idle := p.rss(t) - rss0
			// All at once.
			roundTrip(t, conns, brs, "GET /json HTTP/1.1\r\nHost: x\r\n\r\n", []byte("Hello, World!"))
			burst := p.rss(t) - rss0
			p.alive(t)
			t.Logf("%s: %d idle keep-alive connections: RSS +%d KiB (%d B each); after a request on each at once +%d KiB (%d B each)",
				e.name, n, idle>>10, idle/int64(n), burst>>10, burst/int64(n))
			if idle > int64(n)*idlePerConn {
				t.Errorf("%d idle connections grew RSS by %d KiB, %d B each; want under %d KiB each", n, idle>>10, idle/int64(n), idlePerConn>>10)
			}
			if burst > int64(n)*idlePerConn {
				t.Errorf("a burst on %d connections grew RSS by %d KiB, %d B each; want under %d KiB each", n, burst>>10, burst/int64(n), idlePerConn>>10)
			}
			for _, c := range conns {
				c.Close()
			}
			if err := e.settleConns(t, p, baseG, baseFD, 8); err != nil {
				t.Errorf("after the connections closed: %v", err)
			}
			p.noPanic(t)
		})
	}
}

// roundTrip writes req on every connection, then reads one answer from
// each: it must be 200 (with want in the body, when not nil).
func roundTrip(t *testing.T, conns []net.Conn, brs []*bufio.Reader, req string, want []byte) {
	t.Helper()
	for i, c := range conns {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("connection %d: writing %q: %v", i, req[:len(req)-4], err)
		}
	}
	for i, c := range conns {
		res, body, err := readResponse(c, brs[i], 20*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if res.StatusCode != 200 || (want != nil && !bytes.Contains(body, want)) {
			t.Fatalf("connection %d: %d %q; want 200", i, res.StatusCode, clip(body))
		}
		if res.Close {
			t.Fatalf("connection %d: answer %s with Connection: close; want kept alive", i, strconv.Quote(res.Status))
		}
	}
}
