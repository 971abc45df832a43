package portmux

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"github.com/hotpath-dev/hotpath/rpc"
)

func newCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "portmux test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// shared is one port serving rpc's gRPC server and an HTTP handler that
// reports the protocol and TLS it saw.
type shared struct {
	addr    string
	pool    *x509.CertPool
	authTyp chan string // AuthType of each gRPC call's peer
	errs    chan error  // OnError reports
	// overHTTP counts gRPC calls the HTTP server served (ServeHTTP).
	overHTTP atomic.Int64
}

func startShared(t *testing.T, opts Options, useTLS bool, tweak ...func(*http.Server)) *shared {
	t.Helper()
	s := &shared{authTyp: make(chan string, 16), errs: make(chan error, 16)}
	if useTLS {
		cert, pool := newCert(t)
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.pool = pool
	}
	opts.OnError = func(_ net.Addr, err error) {
		select {
		case s.errs <- err:
		default: // a test that floods reads only the first
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	grpcL, httpL := Split(ln, opts)

	probe := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if p, ok := peer.FromContext(ctx); ok && p.AuthInfo != nil {
			s.authTyp <- p.AuthInfo.AuthType()
		}
		return h(ctx, req)
	}
	srv, err := rpc.New(rpc.Config{
		UnaryInterceptors: []grpc.UnaryServerInterceptor{probe},
		ServerOptions:     []grpc.ServerOption{grpc.Creds(Credentials())},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gdone := make(chan error, 1)
	go func() { gdone <- srv.Serve(grpcL) }()

	mux := http.NewServeMux()
	mux.Handle("/v1/", srv.Gateway())
	mux.HandleFunc("/proto", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s tls=%v", r.Proto, TLSStateFromContext(r.Context()) != nil)
	})
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && IsGRPC(r.Header.Get("Content-Type")) {
			s.overHTTP.Add(1)
			srv.GRPC().ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	hs := &http.Server{Handler: front, ReadHeaderTimeout: 5 * time.Second, ConnContext: ConnContext}
	for _, f := range tweak {
		f(hs)
	}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	hdone := make(chan error, 1)
	go func() { hdone <- hs.Serve(httpL) }()

	t.Cleanup(func() {
		srv.Stop()
		if err := <-gdone; err != nil {
			t.Errorf("grpc Serve: %v", err)
		}
		_ = hs.Close()
		if err := <-hdone; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("http Serve: %v", err)
		}
	})
	return s
}

func (s *shared) grpcConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if s.pool != nil {
		creds = credentials.NewTLS(&tls.Config{RootCAs: s.pool})
	}
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// httpGet fetches path with a client speaking exactly one protocol.
func (s *shared) httpGet(t *testing.T, path string, h2 bool) string {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	scheme := "http"
	switch {
	case s.pool != nil && h2:
		tr.Protocols.SetHTTP2(true)
	case s.pool != nil:
		tr.Protocols.SetHTTP1(true)
	case h2:
		tr.Protocols.SetUnencryptedHTTP2(true)
	default:
		tr.Protocols.SetHTTP1(true)
	}
	if s.pool != nil {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{RootCAs: s.pool}
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(scheme + "://" + s.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// One port serves gRPC (to grpc-go's own transport) and HTTP/1.1 and HTTP/2
// (to net/http), in plaintext and behind TLS.
func TestSharedPort(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "plaintext", true: "tls"}[useTLS]
		t.Run(name, func(t *testing.T) {
			s := startShared(t, Options{}, useTLS)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			conn := s.grpcConn(t)
			for i := range 3 { // several calls on one connection
				if _, err := hotpathv1.NewTimeServiceClient(conn).Now(ctx, &hotpathv1.NowRequest{}); err != nil {
					t.Fatalf("gRPC Now %d: %v", i, err)
				}
			}
			wantAuth := map[bool]string{false: "insecure", true: "tls"}[useTLS]
			if got := <-s.authTyp; got != wantAuth {
				t.Errorf("gRPC peer AuthType = %q, want %q", got, wantAuth)
			}
			stream, err := hotpathv1.NewEchoServiceClient(conn).EchoStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&hotpathv1.EchoRequest{Message: "m"}); err != nil {
				t.Fatal(err)
			}
			if m, err := stream.Recv(); err != nil || m.GetMessage() != "m" {
				t.Fatalf("stream echo: %v %v", m, err)
			}
			_ = stream.CloseSend()

			for _, h2 := range []bool{false, true} {
				want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2] + fmt.Sprintf(" tls=%v", useTLS)
				if got := s.httpGet(t, "/proto", h2); got != want {
					t.Errorf("HTTP h2=%v: %q, want %q", h2, got, want)
				}
				if got := s.httpGet(t, "/v1/time", h2); !strings.Contains(got, `"unixMs"`) {
					t.Errorf("gateway over HTTP h2=%v: %q", h2, got)
				}
			}
			// Many connections at once, both kinds, all routed right.
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i%2 == 0 {
						c := s.grpcConn(t)
						if _, err := hotpathv1.NewTimeServiceClient(c).Now(ctx, &hotpathv1.NowRequest{}); err != nil {
							t.Errorf("concurrent gRPC: %v", err)
						}
						return
					}
					if got := s.httpGet(t, "/proto", i%4 == 1); !strings.Contains(got, "HTTP/") {
						t.Errorf("concurrent HTTP: %q", got)
					}
				}()
			}
			wg.Wait()
			for len(s.authTyp) > 0 {
				<-s.authTyp
			}
		})
	}
}

// A connection that says nothing is closed after PeekTimeout and reported.
func TestPeekTimeoutClosesSilentConnections(t *testing.T) {
	s := startShared(t, Options{PeekTimeout: 50 * time.Millisecond}, false)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read from a silent connection: %v, want EOF (closed by the mux)", err)
	}
	if err := <-s.errs; err == nil || !strings.Contains(err.Error(), "peeking") {
		t.Errorf("OnError got %v", err)
	}
}

// Headers that do not fit in MaxPeek send the connection to HTTP, whose
// server then reads the whole request.
func TestMaxPeekFallsBackToHTTP(t *testing.T) {
	s := startShared(t, Options{MaxPeek: 64}, false)
	if got := s.httpGet(t, "/proto", true); got != "HTTP/2.0 tls=false" {
		t.Errorf("h2c with MaxPeek 64: %q", got)
	}
}

// A TLS client that fails the handshake is reported and closed; the port
// goes on serving.
func TestBadTLSHandshake(t *testing.T) {
	s := startShared(t, Options{}, true)
	c, err := tls.Dial("tcp", s.addr, &tls.Config{ServerName: "wrong.example"})
	if err == nil {
		_ = c.Close()
		t.Fatal("handshake with an untrusted certificate succeeded")
	}
	if err := <-s.errs; err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("OnError got %v", err)
	}
	if got := s.httpGet(t, "/proto", true); got != "HTTP/2.0 tls=true" {
		t.Errorf("after a failed handshake: %q", got)
	}
}

func TestClosingBothClosesTheListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, h := Split(ln, Options{})
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on closed gRPC listener: %v", err)
	}
	// The HTTP side still accepts.
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			_, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			defer c.Close()
		}
	}()
	c, err := h.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("dial after both listeners closed: want connection refused")
	}
}
