package portmux

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/connectivity"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// dialRaw opens a raw HTTP/2 connection to s (TLS with ALPN h2 when s uses
// TLS) that has sent the preface and an empty SETTINGS frame, nothing else.
func dialRaw(t *testing.T, s *shared) *h2raw.Conn {
	t.Helper()
	var o h2raw.Options
	if s.pool != nil {
		o.TLS = &tls.Config{RootCAs: s.pool}
	}
	return h2raw.Dial(t, s.addr, o)
}

// get writes a GET for path on stream, ending the stream.
func get(t *testing.T, r *h2raw.Conn, stream uint32, path string) {
	t.Helper()
	var fields []hpack.HeaderField
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "x"}} {
		fields = append(fields, hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := r.WriteHeaders(stream, true, fields...); err != nil {
		t.Fatal(err)
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
			r.Await(time.Second, "SETTINGS ACK", h2raw.IsSettingsAck)
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("SETTINGS ACK after %v, want < 100ms", d)
			}
			start = time.Now()
			r.Ping(time.Second, [8]byte{1, 2, 3})
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("PING ACK after %v, want < 100ms", d)
			}
			get(t, r, 1, "/proto")
			h := r.Await(2*time.Second, "response HEADERS", h2raw.IsHeaders).(*http2.MetaHeadersFrame)
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
	r.Ping(2*time.Second, [8]byte{7})
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
	r.Await(5*time.Second, "GOAWAY", h2raw.IsGoAway)
	if _, err := r.Next(5 * time.Second); !errors.Is(err, io.EOF) {
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
