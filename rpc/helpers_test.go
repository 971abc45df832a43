package rpc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// fixedNow is the clock of test servers, so gRPC and JSON answers compare equal.
var fixedNow = time.UnixMilli(1_764_000_000_123)

// testServer is a running Server with a gRPC client and a gateway URL.
type testServer struct {
	srv  *Server
	reg  *prometheus.Registry
	conn *grpc.ClientConn
	http string // base URL of the gateway
}

// newCert makes a self-signed certificate for 127.0.0.1.
func newCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hotpath test"},
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

// start runs a Server for cfg on 127.0.0.1:0 (TLS when useTLS) and its
// gateway on another port; everything stops at cleanup.
func start(t testing.TB, cfg Config, useTLS bool) *testServer {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	clientCreds := insecure.NewCredentials()
	if useTLS {
		cert, pool := newCert(t)
		cfg.ServerOptions = append(cfg.ServerOptions, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
		clientCreds = credentials.NewTLS(&tls.Config{RootCAs: pool})
	}
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Gateway(), ReadHeaderTimeout: 5 * time.Second}
	hdone := make(chan error, 1)
	go func() { hdone <- hs.Serve(hln) }()

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(clientCreds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = hs.Close()
		<-hdone
		http.DefaultClient.CloseIdleConnections()
	})
	return &testServer{srv: srv, reg: reg, conn: conn, http: "http://" + hln.Addr().String()}
}

func fixedClock() time.Time { return fixedNow }
