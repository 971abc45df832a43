package hostile

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// switchEngines are the HTTP/1.1 ports, plus net/http with --h2c and no
// gRPC (the port where net/http itself takes h2c).
var switchEngines = append(append(append([]gapEngine{}, http1Engines...),
	gapEngine{name: "nethttp-h2c-no-grpc", args: []string{"--grpc=false", "--h2c"}}), tlsEngines...)

// TestGapNoProtocolSwitch: a connection that portmux (or the engine) took
// for HTTP/1.1 never turns into HTTP/2, where it would bypass the HTTP/2
// flood guard that portmux puts on connections it routes as HTTP/2:
//   - "Upgrade: h2c" (RFC 7540 §3.2, removed by RFC 9113) is not honoured:
//     the request is answered over HTTP/1.1, never with 101;
//   - the HTTP/2 preface sent after a first HTTP/1.1 request on a kept-alive
//     connection is refused (400 or 505) and the connection closed, without
//     a SETTINGS frame.
//
// Every engine, and TLS (where ALPN chose http/1.1).
func TestGapNoProtocolSwitch(t *testing.T) {
	for _, e := range switchEngines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t)
			t.Run("Upgrade h2c", func(t *testing.T) {
				c := dialRaw(t, p.addr, e.tls)
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte("GET /time HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				res, body, err := readResponse(c, bufio.NewReader(c), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != 200 || res.ProtoMajor != 1 || len(body) == 0 {
					t.Errorf("Upgrade: h2c answered %s %q over HTTP/%d; want 200 over HTTP/1.1, no switch", res.Status, clip(body), res.ProtoMajor)
				}
			})
			t.Run("preface after an HTTP/1.1 request", func(t *testing.T) {
				c := dialRaw(t, p.addr, e.tls)
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte("GET /time HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				if res, _, err := readResponse(c, br, 5*time.Second); err != nil || res.StatusCode != 200 {
					t.Fatalf("first request: %v, %v", res, err)
				}
				// The preface and an empty SETTINGS frame.
				if _, err := c.Write([]byte(http2.ClientPreface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
					t.Fatal(err)
				}
				got, err := waitClosedTLS(c, 5*time.Second)
				if br.Buffered() > 0 {
					b, _ := br.Peek(br.Buffered())
					got = append(b, got...)
				}
				if err != nil {
					t.Errorf("after the preface: %q, %v; want the connection closed", clip(got), err)
				}
				if st := statusOf(strings.SplitN(string(got), "\r\n", 2)[0]); st != 400 && st != 505 {
					t.Errorf("the HTTP/2 preface on an HTTP/1.1 connection got %q; want 400 or 505 and a close", clip(got))
				}
			})
			p.alive(t)
			p.noPanic(t)
		})
	}
}
