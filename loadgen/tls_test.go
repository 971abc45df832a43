package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/rpc"
)

// TestTLSVerifiesTheURLHost checks certificate verification without
// --insecure, on both TLS transports: a certificate the roots trust for the
// URL's host is accepted, one for another name is refused up front. (The
// HTTP/1.1 client once set no server name, so every https target failed with
// "either ServerName or InsecureSkipVerify must be specified" unless
// verification was turned off.)
func TestTLSVerifiesTheURLHost(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate()) // valid for 127.0.0.1, ::1 and example.com, not localhost
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	tests := []struct {
		name    string
		c       Config
		wantErr bool
	}{
		{"HTTP/1.1: certificate for the URL's IP is accepted", Config{URL: srv.URL, RootCAs: roots}, false},
		{"HTTP/2: certificate for the URL's IP is accepted", Config{URL: srv.URL, RootCAs: roots, HTTP2: true}, false},
		{"HTTP/1.1: certificate not for the URL's host is refused", Config{URL: byName, RootCAs: roots}, true},
		{"HTTP/2: certificate not for the URL's host is refused", Config{URL: byName, RootCAs: roots, HTTP2: true}, true},
		{"HTTP/1.1: untrusted certificate is refused", Config{URL: srv.URL}, true},
		{"HTTP/2: untrusted certificate is refused", Config{URL: srv.URL, HTTP2: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.c.Connections, tt.c.Requests = 2, 20
			res, err := Run(context.Background(), tt.c)
			if tt.wantErr {
				if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("err = %v, want ErrUnreachable naming the certificate", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Successes != 20 {
				t.Fatalf("ok %d of 20; errors %v", res.Successes, res.ErrorClasses)
			}
		})
	}
}

// silentListener accepts TCP connections and never writes a byte: a TLS
// handshake with it never completes.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestTLSHandshakeBoundedByTimeout checks that --timeout bounds connecting,
// TLS handshake included, on both TLS transports: a server that accepts and
// never answers makes Run fail with ErrUnreachable instead of hanging.
func TestTLSHandshakeBoundedByTimeout(t *testing.T) {
	t.Parallel()
	url := "https://" + silentListener(t) + "/"
	tests := []struct {
		name string
		c    Config
	}{
		{"HTTP/1.1 over TLS", Config{URL: url}},
		{"HTTP/2 over TLS", Config{URL: url, HTTP2: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.c.Insecure, tt.c.Timeout, tt.c.Requests, tt.c.Connections = true, 200*time.Millisecond, 1, 1
			done := make(chan error, 1)
			go func() {
				_, err := Run(context.Background(), tt.c)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnreachable) {
					t.Fatalf("err = %v, want ErrUnreachable", err)
				}
			case <-time.After(20 * time.Second): // a liveness bound, 100× the timeout
				t.Fatal("Run still connecting 20s after a 200ms timeout: the TLS handshake is not bounded")
			}
		})
	}
}

// TestGRPCTLSFailureNamesTheCause: a gRPC target whose certificate is not
// trusted is refused with the TLS error, not a bare "connection failed",
// and is loaded normally with Insecure.
func TestGRPCTLSFailureNamesTheCause(t *testing.T) {
	t.Parallel()
	certSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	certSrv.StartTLS() // only for its self-signed certificate
	certs := certSrv.TLS.Certificates
	certSrv.Close()
	s, err := rpc.New(rpc.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(tls.NewListener(ln, &tls.Config{Certificates: certs, NextProtos: []string{"h2"}}))
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	url := "https://" + ln.Addr().String()

	tr, err := NewGRPCTransport(context.Background(), GRPCConfig{URL: url, Call: "hotpath.v1.TimeService/Now", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err) // compiled-in service: no connection needed yet
	}
	if _, err := tr.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Open against an untrusted certificate: %v, want an error naming the certificate", err)
	}

	tr, err = NewGRPCTransport(context.Background(), GRPCConfig{URL: url, Call: "hotpath.v1.TimeService/Now", Timeout: 5 * time.Second, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Config{URL: url, Transport: tr, Connections: 1, Requests: 10})
	if err != nil || res.Successes != 10 {
		t.Fatalf("with Insecure: %v, result %+v", err, res)
	}
}
