package portmux

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// A TLS port refuses plaintext unless AllowPlaintext: an HTTP/1.1 request
// gets 400 and a closed connection (net/http's TLS listener's answer),
// h2c and plaintext gRPC are closed, OnError hears why; TLS clients are
// served either way. With AllowPlaintext the same clients are served in
// cleartext.
func TestTLSPortPlaintext(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "AllowPlaintext"}[allow], func(t *testing.T) {
			s := startShared(t, Options{AllowPlaintext: allow}, true)
			if got := s.httpGet(t, "/proto", false); got == "" {
				t.Fatal("HTTPS over HTTP/1.1: empty answer")
			}

			c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, "GET /proto HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("plaintext GET: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if allow {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("plaintext GET with AllowPlaintext: %d %q", resp.StatusCode, body)
				}
			} else {
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
					t.Errorf("plaintext GET: %d %q, want 400 naming HTTPS", resp.StatusCode, body)
				}
				if err := <-s.errs; !errors.Is(err, errPlaintext) {
					t.Errorf("OnError got %v, want the plaintext error", err)
				}
			}

			// gRPC in cleartext (h2c).
			conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = hotpathv1.NewTimeServiceClient(conn).Now(ctx, &hotpathv1.NowRequest{})
			if allow && err != nil {
				t.Errorf("plaintext gRPC with AllowPlaintext: %v", err)
			}
			if !allow && err == nil {
				t.Error("plaintext gRPC on a TLS port was served")
			}
		})
	}
}

// HTTPOnly hands every connection to the HTTP server, gRPC calls included
// (here it passes them to grpc.Server.ServeHTTP, counted in overHTTP), in
// plaintext and behind TLS; the gRPC listener gets none.
func TestHTTPOnly(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plaintext", true: "tls"}[useTLS], func(t *testing.T) {
			s := startShared(t, Options{HTTPOnly: true}, useTLS)
			for _, h2 := range []bool{false, true} {
				if got, want := s.httpGet(t, "/proto", h2), map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]; !strings.HasPrefix(got, want) {
					t.Errorf("GET /proto (h2 %v) = %q, want %s", h2, got, want)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			client := hotpathv1.NewTimeServiceClient(s.grpcConn(t))
			for i := range 3 {
				if _, err := client.Now(ctx, &hotpathv1.NowRequest{}); err != nil {
					t.Fatalf("gRPC Now %d: %v", i, err)
				}
			}
			if n := s.overHTTP.Load(); n != 3 {
				t.Errorf("%d of 3 gRPC calls reached the HTTP server, want all", n)
			}
			select {
			case a := <-s.authTyp:
				t.Errorf("a gRPC call reached grpc-go's own transport (AuthType %q)", a)
			default:
			}
		})
	}
}

// TestHTTPOnlyHandsH2OverAtPreface: with HTTPOnly there is nothing to route
// by, so an HTTP/2 connection goes to the HTTP listener as soon as its
// preface is in, before any request, and portmux writes nothing to it: the
// client sees the HTTP server's SETTINGS first (its
// SETTINGS_MAX_CONCURRENT_STREAMS, not an empty frame of portmux's).
func TestHTTPOnlyHandsH2OverAtPreface(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcL, httpL := Split(ln, Options{HTTPOnly: true})
	grpcL.Close()
	defer httpL.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := append([]byte(preface), emptySettings...)
	if _, err := c.Write(sent); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		sc, err := httpL.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- sc
	}()
	var sc net.Conn
	select {
	case sc = <-accepted:
		if sc == nil {
			t.Fatal("the HTTP listener failed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an HTTP/2 connection without a request was not handed over")
	}
	defer sc.Close()
	got := make([]byte, len(sent))
	_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(sc, got); err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("the HTTP server read %q (%v), want the client's preface and SETTINGS replayed", got, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the client read %d bytes (%v) before the HTTP server wrote any", n, err)
	}
}
