package hostile

import (
	"bytes"
	"net"
	"net/http"
	"testing"
	"time"
)

// The TLS handshake slowloris: clients connect and send the first 48 bytes
// of a ClientHello whose record claims 512, then stall.
const (
	tlsStallTimeout = 2 * time.Second // --read-header-timeout
	tlsStallCap     = 100             // --max-connections
	tlsStallUnder   = 50              // first wave: under the cap
	tlsStallOver    = 150             // second wave: the cap and more
)

// halfHello is a TLS record header announcing a 512-byte handshake message
// and the start of a ClientHello: a server must wait for the rest.
var halfHello = append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, bytes.Repeat([]byte{0x42}, 37)...)

// TestGapTLSHandshakeSlowloris: against both TLS ports (portmux
// terminating TLS with gRPC on the port, net/http's own TLS listener),
// handshakes that never finish
//   - do not block other clients' handshakes: under the cap, a normal
//     HTTPS client is served while the stalled ones are still open;
//   - are bounded by --read-header-timeout: each is closed within it (plus
//     room; those over the cap wait in the accept queue for a first
//     wave's timeout, so two timeouts);
//   - over the cap, still let a normal client in once a wave is cut off;
//   - leave serve's goroutines and descriptors where they were.
func TestGapTLSHandshakeSlowloris(t *testing.T) {
	for _, e := range tlsEngines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t, "--read-header-timeout", tlsStallTimeout.String(), "--max-connections", "100")
			hc, base := client(t, p, true)
			if err := getOK(hc, base+"/time"); err != nil {
				t.Fatal(err)
			}
			hc.CloseIdleConnections()
			baseG, baseFD := p.goroutines(t), p.fds(t)

			stall := func(n int) ([]net.Conn, time.Time) {
				conns, _, err := dialMany(t, p.addr, n)
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range conns {
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := c.Write(halfHello); err != nil {
						t.Fatalf("stalled handshake %d: %v", i, err)
					}
				}
				return conns, time.Now()
			}
			// Under the cap.
			first, firstAt := stall(tlsStallUnder)
			if err := getOK(hc, base+"/time"); err != nil {
				t.Fatalf("normal client with %d stalled handshakes open: %v", tlsStallUnder, err)
			}
			hc.CloseIdleConnections()
			if open := countOpen(first, 10*time.Millisecond); open == 0 {
				t.Fatalf("the normal client was served only after the %d stalled handshakes were cut off (%v after they began): their handshakes held it up",
					tlsStallUnder, time.Since(firstAt).Round(time.Millisecond))
			}
			// Over the cap: the stalled handshakes fill it.
			second, secondAt := stall(tlsStallOver)
			served := make(chan error, 1)
			var servedAfter time.Duration
			// It waits in the accept queue behind the second wave, for
			// two to three timeouts: more than hc's 5 s allows on a
			// loaded machine.
			patient := &http.Client{Transport: hc.Transport, Timeout: 4*tlsStallTimeout + 2*closeWithin}
			go func() {
				err := getOK(patient, base+"/time")
				servedAfter = time.Since(secondAt)
				served <- err
			}()
			for i, c := range first {
				if _, err := waitClosed(c, c, time.Until(firstAt.Add(tlsStallTimeout+closeWithin))); err != nil {
					t.Errorf("first wave: stalled handshake %d still open %v after it began (--read-header-timeout %v): %v",
						i, time.Since(firstAt).Round(time.Millisecond), tlsStallTimeout, err)
				}
				c.Close()
			}
			for i, c := range second {
				if _, err := waitClosed(c, c, time.Until(secondAt.Add(2*tlsStallTimeout+closeWithin))); err != nil {
					t.Errorf("second wave: stalled handshake %d still open %v after it began (--read-header-timeout %v, cap %d): %v",
						i, time.Since(secondAt).Round(time.Millisecond), tlsStallTimeout, tlsStallCap, err)
				}
				c.Close()
			}
			if err := <-served; err != nil {
				t.Errorf("normal client with the cap full of stalled handshakes: %v; want served once a wave is cut off", err)
			}
			t.Logf("over the cap: the normal client was served %v after %d more stalled handshakes began", servedAfter.Round(time.Millisecond), tlsStallOver)
			hc.CloseIdleConnections()
			if err := p.settleServe(t, baseG, baseFD, 8); err != nil {
				t.Errorf("after the stalled handshakes: %v", err)
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}

// countOpen returns how many of conns are still open: a read that waits d
// without an error or data means open.
func countOpen(conns []net.Conn, d time.Duration) int {
	n := 0
	buf := make([]byte, 1)
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(d))
		if _, err := c.Read(buf); isTimeout(err) {
			n++
		}
	}
	return n
}
