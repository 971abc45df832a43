package portmux

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/connectivity"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// rawH2 is an HTTP/2 client that writes and reads frames itself.
type rawH2 struct {
	t     *testing.T
	c     net.Conn
	fr    *http2.Framer
	block []byte // a header block the test reuses
}

// dialRaw connects to s (TLS with ALPN h2 when s uses TLS) and sends the
// preface and an empty SETTINGS frame, nothing else.
func dialRaw(t *testing.T, s *shared) *rawH2 {
	t.Helper()
	var c net.Conn
	var err error
	if s.pool != nil {
		c, err = tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.pool, NextProtos: []string{"h2"}})
	} else {
		c, err = net.Dial("tcp", s.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	r := &rawH2{t: t, c: c, fr: http2.NewFramer(c, c)}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := io.WriteString(c, preface); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return r
}

// await reads frames until match accepts one, acknowledging the server's
// SETTINGS as a client must; it fails the test after d.
func (r *rawH2) await(d time.Duration, what string, match func(http2.Frame) bool) http2.Frame {
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

func (r *rawH2) get(stream uint32, path string) {
	r.t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "x"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block.Bytes(), EndHeaders: true, EndStream: true}); err != nil {
		r.t.Fatal(err)
	}
}

// A client that waits for the server's SETTINGS ACK and a PING answer
// before its first request (connection warm-up pools, health checkers,
// h2spec) gets both at once, in plaintext (h2c) and over TLS, and then its
// requests are served.
func TestClientWaitingForServerIsAnswered(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[useTLS], func(t *testing.T) {
			s := startShared(t, Options{}, useTLS)
			r := dialRaw(t, s)
			start := time.Now()
			r.await(time.Second, "SETTINGS ACK", func(f http2.Frame) bool {
				sf, ok := f.(*http2.SettingsFrame)
				return ok && sf.IsAck()
			})
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("SETTINGS ACK after %v, want < 100ms", d)
			}
			start = time.Now()
			if err := r.fr.WritePing(false, [8]byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			r.await(time.Second, "PING ACK", func(f http2.Frame) bool {
				pf, ok := f.(*http2.PingFrame)
				return ok && pf.IsAck() && pf.Data == [8]byte{1, 2, 3}
			})
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("PING ACK after %v, want < 100ms", d)
			}
			r.get(1, "/proto")
			h := r.await(2*time.Second, "response HEADERS", func(f http2.Frame) bool {
				_, ok := f.(*http2.MetaHeadersFrame)
				return ok
			}).(*http2.MetaHeadersFrame)
			if st := h.PseudoValue("status"); st != "200" {
				t.Errorf("GET /proto after waiting: status %q", st)
			}
		})
	}
}

// A client that sends a PING before any request is answered at once
// (routeEither: no RequestWait).
func TestPingBeforeRequestIsAnsweredAtOnce(t *testing.T) {
	s := startShared(t, Options{RequestWait: time.Hour}, false)
	r := dialRaw(t, s)
	if err := r.fr.WritePing(false, [8]byte{7}); err != nil {
		t.Fatal(err)
	}
	r.await(2*time.Second, "PING ACK", func(f http2.Frame) bool {
		pf, ok := f.(*http2.PingFrame)
		return ok && pf.IsAck()
	})
}

// A gRPC client whose connection was made ready before its first call
// (Connect, then a pause longer than RequestWait) is served too: its
// connection went to the HTTP server, which hands gRPC to ServeHTTP. With
// HTTP1Only such a connection goes to the gRPC server instead.
func TestWarmGRPCConnection(t *testing.T) {
	for _, h1only := range []bool{false, true} {
		t.Run(map[bool]string{false: "fallback http", true: "fallback grpc"}[h1only], func(t *testing.T) {
			s := startShared(t, Options{HTTP1Only: h1only}, false)
			conn := s.grpcConn(t)
			conn.Connect()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for st := conn.GetState(); st != connectivity.Ready; st = conn.GetState() {
				if !conn.WaitForStateChange(ctx, st) {
					t.Fatal("gRPC connection never ready")
				}
			}
			time.Sleep(10 * DefaultRequestWait)
			for i := range 3 {
				if _, err := hotpathv1.NewTimeServiceClient(conn).Now(ctx, &hotpathv1.NowRequest{}); err != nil {
					t.Fatalf("Now %d on a warmed connection: %v", i, err)
				}
			}
			want := map[bool]int64{false: 3, true: 0}[h1only]
			if got := s.overHTTP.Load(); got != want {
				t.Errorf("calls served by the HTTP server: %d, want %d", got, want)
			}
			for len(s.authTyp) > 0 {
				<-s.authTyp
			}
		})
	}
}

// A gRPC client that calls at once stays on grpc-go's own transport.
func TestPromptGRPCCallUsesGRPCTransport(t *testing.T) {
	s := startShared(t, Options{}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := hotpathv1.NewTimeServiceClient(s.grpcConn(t)).Now(ctx, &hotpathv1.NowRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := s.overHTTP.Load(); got != 0 {
		t.Errorf("a prompt call was served by the HTTP server (%d)", got)
	}
	<-s.authTyp
}

// An HTTP/2 connection that never sends a request is closed by the HTTP
// server's idle timeout with a GOAWAY frame, not dropped silently.
func TestIdleH2ConnectionGetsGoAway(t *testing.T) {
	s := startShared(t, Options{}, false, func(hs *http.Server) { hs.IdleTimeout = 300 * time.Millisecond })
	r := dialRaw(t, s)
	r.await(5*time.Second, "GOAWAY", func(f http2.Frame) bool {
		_, ok := f.(*http2.GoAwayFrame)
		return ok
	})
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.fr.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("after GOAWAY: %v, want EOF", err)
	}
}

// A TLS client that negotiates h2 and then sends no HTTP/2 preface gets the
// connection closed (RFC 9113 §3.4), not an HTTP/1.1 answer.
func TestTLSH2WithoutPrefaceIsClosed(t *testing.T) {
	s := startShared(t, Options{}, true)
	c, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /proto HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if len(b) != 0 || err != nil {
		t.Errorf("got %q, %v; want the connection closed without an answer", b, err)
	}
	if err := <-s.errs; err == nil || !strings.Contains(err.Error(), "no HTTP/2 preface") {
		t.Errorf("OnError: %v", err)
	}
}
