package hostile

import (
	"crypto/tls"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
)

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
			var o h2raw.Options
			if useTLS {
				o.TLS = &tls.Config{InsecureSkipVerify: true}
			}
			r := h2raw.Dial(t, p.addr, o)
			start := time.Now()
			r.Await(time.Second, "SETTINGS ACK", h2raw.IsSettingsAck)
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("SETTINGS ACK after %v, want < 100 ms", d)
			}
			start = time.Now()
			r.Ping(time.Second, [8]byte{4, 2})
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("PING ACK after %v, want < 100 ms", d)
			}
			_ = r.Write(func(fr *http2.Framer) error {
				return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: getTime, EndHeaders: true, EndStream: true})
			})
			h := r.Await(2*time.Second, "response", h2raw.IsHeaders).(*http2.MetaHeadersFrame)
			if st := h.PseudoValue("status"); st != "200" {
				t.Errorf("GET /time: status %q", st)
			}
			// Now idle: --idle-timeout 1s ends it with GOAWAY, then EOF.
			start = time.Now()
			r.Await(5*time.Second, "GOAWAY on an idle connection", h2raw.IsGoAway)
			t.Logf("GOAWAY %v after the response", time.Since(start).Round(time.Millisecond))
			end := time.Now().Add(5 * time.Second)
			for {
				if _, err := r.Next(time.Until(end)); err != nil {
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
	r := h2raw.Dial(t, p.addr, h2raw.Options{})
	r.Await(5*time.Second, "GOAWAY", h2raw.IsGoAway)
}
