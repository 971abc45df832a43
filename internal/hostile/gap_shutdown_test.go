package hostile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
)

// The hostile-shutdown case: serve's socket timeouts are long (hostileLong)
// so that nothing but the shutdown ends the hostile connections, and
// --shutdown-timeout is short (hostileGrace).
const (
	hostileLong  = 60 * time.Second
	hostileGrace = time.Second
	hostileExit  = hostileGrace + 8*time.Second // SIGTERM to exit, at most
	hostileLoris = 50
	hostileIdle  = 50
	hostileStall = 4
	hostileH2    = 5 // h2c connections with 100 bodiless streams each (nethttp)
)

// TestGapShutdownWithHostileClients: SIGTERM while slowloris connections
// (a head that never ends), idle keep-alive connections, stalled readers of
// a large echo and (on nethttp) HTTP/2 streams whose body never comes hold
// serve: it still exits within --shutdown-timeout plus room, with 0 or
// the documented 1 (some had to be cut off), and every one of those
// connections is closed. Every engine, and TLS.
func TestGapShutdownWithHostileClients(t *testing.T) {
	// Mostly waiting on serve's timers: in parallel with the other gap
	// tests that are, after this package's sequential tests.
	t.Parallel()
	for _, e := range append(append([]gapEngine{}, http1Engines...), tlsEngines[0]) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t, "--read-header-timeout", hostileLong.String(), "--read-timeout", hostileLong.String(),
				"--write-timeout", hostileLong.String(), "--idle-timeout", hostileLong.String(),
				"--request-timeout", hostileLong.String(), "--shutdown-timeout", hostileGrace.String(),
				"--max-body-bytes", strconv.Itoa(16<<20))
			var conns []net.Conn
			for range hostileLoris {
				c := dialRaw(t, p.addr, e.tls)
				if _, err := io.WriteString(c, "GET /time HTTP/1.1\r\nHost: x\r\nX-Slow: a"); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for range hostileIdle {
				c := dialRaw(t, p.addr, e.tls)
				if _, err := io.WriteString(c, "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				if res, _, err := readResponse(c, bufio.NewReader(c), 5*time.Second); err != nil || res.StatusCode != 200 {
					t.Fatalf("idle connection's request: %v, %v", res, err)
				}
				conns = append(conns, c)
			}
			big := bytes.Repeat([]byte("s"), 8<<20)
			stallDone := make(chan struct{}, hostileStall)
			for range hostileStall {
				c := dialSmallWindowMaybeTLS(t, p.addr, e.tls)
				go func() {
					defer func() { stallDone <- struct{}{} }()
					_ = c.SetWriteDeadline(time.Now().Add(hostileExit + 5*time.Second))
					_, _ = c.Write(append([]byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(big))+"\r\n\r\n"), big...))
				}()
				conns = append(conns, c)
			}
			var h2 []*h2raw.Conn
			if e.name == "nethttp" {
				for range hostileH2 {
					r := h2raw.Dial(t, p.addr, h2raw.Options{Frames: 512})
					r.Await(5*time.Second, "SETTINGS ACK", h2raw.IsSettingsAck)
					for j := range 100 {
						if err := r.WriteHeaders(uint32(2*j+1), false, requestFields(h2Ports[0], "POST", "/echo",
							hpack.HeaderField{Name: "content-length", Value: "10"})...); err != nil {
							t.Fatal(err)
						}
					}
					h2 = append(h2, r)
				}
			}
			time.Sleep(500 * time.Millisecond) // let the handlers start and the echoes stall
			p.alive(t)

			signalled := time.Now()
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(hostileExit):
				t.Fatalf("serve still running %v after SIGTERM (--shutdown-timeout %v) with hostile clients connected; output:\n%s",
					hostileExit, hostileGrace, p.stderr.String())
			}
			took := time.Since(signalled)
			code := 0
			var ee *exec.ExitError
			if errors.As(p.err, &ee) {
				code = ee.ExitCode()
			} else if p.err != nil {
				t.Fatalf("serve: %v", p.err)
			}
			t.Logf("exit %d %v after SIGTERM with %d slowloris, %d idle, %d stalled readers, %d h2c connections",
				code, took.Round(time.Millisecond), hostileLoris, hostileIdle, hostileStall, len(h2))
			if code != 0 && code != 1 {
				t.Errorf("exit code %d; want 0, or 1 when requests had to be cut off; output:\n%s", code, p.stderr.String())
			}
			if out := p.stderr.String(); strings.Contains(out, "panic") {
				t.Errorf("output mentions a panic:\n%s", out)
			}
			for i, c := range conns {
				if _, err := waitClosedTLS(c, 3*time.Second); err != nil {
					t.Errorf("connection %d still open after serve exited: %v", i, err)
				}
				c.Close()
			}
			for range hostileStall {
				<-stallDone
			}
			for i, r := range h2 {
				if !r.Closed(3 * time.Second) {
					t.Errorf("h2c connection %d still open after serve exited", i)
				}
			}
		})
	}
}
