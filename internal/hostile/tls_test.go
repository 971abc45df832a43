package hostile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// insecureTLS trusts serve's --tls-self-signed certificate.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}
}

// selfSigned makes a throwaway ECDSA certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A TLS port never serves cleartext, with gRPC on the port (the default,
// portmux terminating TLS) or not (net/http's TLS listener): a plaintext
// request gets 400 and a closed connection, not the answer, so a client
// configured with http:// fails before it sends credentials in the clear
// again. HTTPS is served meanwhile.
func TestTLSPortRefusesPlaintext(t *testing.T) {
	for _, args := range [][]string{{"--tls-self-signed"}, {"--tls-self-signed", "--grpc=false"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			p := startServe(t, nil, args...)
			plain := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := plain.Get("http://" + p.addr + "/time")
			if err != nil {
				t.Fatalf("plaintext GET: %v, want a 400 answer", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
				t.Fatalf("plaintext GET /time on a TLS port: %d %q, want 400 naming HTTPS", resp.StatusCode, body)
			}
			tlsc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS(), ForceAttemptHTTP2: true}}
			resp, err = tlsc.Get("https://" + p.addr + "/time")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				t.Fatalf("HTTPS GET /time: %d over HTTP/%d", resp.StatusCode, resp.ProtoMajor)
			}
			p.alive(t)
		})
	}
}
