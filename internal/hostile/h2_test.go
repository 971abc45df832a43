package hostile

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2Raw is an HTTP/2 client writing and reading frames itself.
type h2Raw struct {
	t  *testing.T
	c  net.Conn
	fr *http2.Framer
}

// dialRawH2 connects (TLS with ALPN h2 when useTLS) and sends the preface and
// an empty SETTINGS frame, nothing else.
func dialRawH2(t *testing.T, addr string, useTLS bool) *h2Raw {
	t.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	r := &h2Raw{t: t, c: c, fr: http2.NewFramer(c, c)}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := io.WriteString(c, h2Preface); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return r
}

// await reads frames (acknowledging the server's SETTINGS) until match
// accepts one, within d.
func (r *h2Raw) await(d time.Duration, what string, match func(http2.Frame) bool) http2.Frame {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatalf("waiting %v for %s: %v", d, what, err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			if err := r.fr.WriteSettingsAck(); err != nil {
				r.t.Fatal(err)
			}
		}
		if match(f) {
			return f
		}
	}
}

// Against `hotpath serve` with default flags (h2c on the shared port) and
// with TLS: a client that waits for the SETTINGS ACK and a PING answer
// before its first request gets each within 100 ms, then its request is
// answered; an HTTP/2 connection left idle is closed with GOAWAY.
func TestH2ClientThatWaitsAndIdles(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[useTLS], func(t *testing.T) {
			args := []string{"--idle-timeout", "1s"}
			if useTLS {
				args = append(args, "--tls-self-signed")
			}
			p := startServe(t, nil, args...)
			r := dialRawH2(t, p.addr, useTLS)
			start := time.Now()
			r.await(time.Second, "SETTINGS ACK", func(f http2.Frame) bool {
				sf, ok := f.(*http2.SettingsFrame)
				return ok && sf.IsAck()
			})
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("SETTINGS ACK after %v, want < 100 ms", d)
			}
			start = time.Now()
			_ = r.fr.WritePing(false, [8]byte{4, 2})
			r.await(time.Second, "PING ACK", func(f http2.Frame) bool {
				pf, ok := f.(*http2.PingFrame)
				return ok && pf.IsAck()
			})
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("PING ACK after %v, want < 100 ms", d)
			}
			var block bytes.Buffer
			enc := hpack.NewEncoder(&block)
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/time"}, {":authority", "x"}} {
				_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			_ = r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true, EndStream: true})
			h := r.await(2*time.Second, "response", func(f http2.Frame) bool {
				_, ok := f.(*http2.MetaHeadersFrame)
				return ok
			}).(*http2.MetaHeadersFrame)
			if st := h.PseudoValue("status"); st != "200" {
				t.Errorf("GET /time: status %q", st)
			}
			// Now idle: --idle-timeout 1s ends it with GOAWAY, then EOF.
			start = time.Now()
			r.await(5*time.Second, "GOAWAY on an idle connection", func(f http2.Frame) bool {
				_, ok := f.(*http2.GoAwayFrame)
				return ok
			})
			t.Logf("GOAWAY %v after the response", time.Since(start).Round(time.Millisecond))
			_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, err := r.fr.ReadFrame(); err != nil {
					if !errors.Is(err, io.EOF) {
						t.Errorf("after GOAWAY: %v, want EOF", err)
					}
					break
				}
			}
		})
	}
}

// An HTTP/2 connection that never sends a request is closed with GOAWAY
// too, not dropped.
func TestH2SilentConnectionGetsGoAway(t *testing.T) {
	p := startServe(t, nil, "--idle-timeout", "1s")
	r := dialRawH2(t, p.addr, false)
	r.await(5*time.Second, "GOAWAY", func(f http2.Frame) bool {
		_, ok := f.(*http2.GoAwayFrame)
		return ok
	})
}
