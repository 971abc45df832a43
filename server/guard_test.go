package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
	"github.com/hotpath-dev/hotpath/portmux"
)

// TestRuntimeGuardsHTTP2: server.New on its own TLS or h2c port (no
// WithSharedPort, no package serve) cuts HTTP/2 frame floods off with
// GOAWAY(ENHANCE_YOUR_CALM), as a port split by portmux does. Before the
// Runtime put the guard there, only serve had it, and net/http's HTTP/2
// server answered every frame of a SETTINGS or PING flood until the client
// stopped.
func TestRuntimeGuardsHTTP2(t *testing.T) {
	t.Parallel()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/time"}, {":authority", "x"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for _, port := range []struct {
		name string
		cfg  Config
		dial h2raw.Options
	}{
		{"h2c", Config{H2C: true}, h2raw.Options{}},
		{"tls", Config{TLSSelfSigned: true}, h2raw.Options{TLS: &tls.Config{InsecureSkipVerify: true}}},
	} {
		t.Run(port.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, port.cfg, nil)
			addr := ts.s.Addr().String()
			for _, fl := range h2raw.Floods {
				t.Run(fl.Name, func(t *testing.T) {
					r := h2raw.Dial(t, addr, port.dial)
					stop := make(chan struct{})
					sent := make(chan int, 1)
					go func() { sent <- r.Flood(fl.Write, block.Bytes(), math.MaxInt, stop, 5*time.Second) }()
					calm, err := r.UntilClosed(3 * time.Second)
					close(stop)
					n := <-sent
					if !calm {
						t.Errorf("no GOAWAY ENHANCE_YOUR_CALM (%d units sent; reading ended with %v)", n, err)
					}
				})
			}
			// The server still serves after the floods.
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
			if port.cfg.H2C {
				tr.Protocols = new(http.Protocols)
				tr.Protocols.SetUnencryptedHTTP2(true)
			}
			resp, err := client(t, tr).Get(ts.url + "/time")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Errorf("after the floods: %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
			}
		})
	}
}

// TestTLSPortRequestTLS: on a TLS port, handlers see r.TLS over HTTP/2 as
// over HTTP/1.1, although portmux terminates TLS and hands net/http
// decrypted (and, behind the Runtime's connection cap, wrapped)
// connections: on the port the Runtime guards and on a port shared with
// WithSharedPort, as package serve shares it with gRPC. A plaintext
// request is refused with a 400, never served.
func TestTLSPortRequestTLS(t *testing.T) {
	t.Parallel()
	mount := func(s *Server) {
		s.Handle("GET /tls", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil {
				fmt.Fprintf(w, "%s no TLS", r.Proto)
				return
			}
			fmt.Fprintf(w, "%s %s", r.Proto, r.TLS.NegotiatedProtocol)
		}))
	}
	for _, port := range []struct {
		name  string
		start func(t *testing.T) (url, addr string)
	}{
		{"own port", func(t *testing.T) (string, string) {
			ts := start(t, Config{TLSSelfSigned: true}, mount)
			return ts.url, ts.s.Addr().String()
		}},
		{"shared port", func(t *testing.T) (string, string) {
			cfg := Config{TLSSelfSigned: true}
			tlsCfg, err := TLSConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			grpcL, httpL := portmux.Split(ln, portmux.Options{TLSConfig: tlsCfg})
			grpcL.Close()
			start(t, cfg, mount, WithSharedPort(SharedPort{Listener: httpL, TLS: tlsCfg, ConnContext: portmux.ConnContext}))
			return "https://" + ln.Addr().String(), ln.Addr().String()
		}},
	} {
		t.Run(port.name, func(t *testing.T) {
			url, addr := port.start(t)
			for _, tc := range []struct {
				name string
				tr   *http.Transport
				want string
			}{
				{"HTTP/2", &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}, "HTTP/2.0 h2"},
				{"HTTP/1.1", &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}, "HTTP/1.1 http/1.1"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res := do(client(t, tc.tr), mustRequest(t, url+"/tls"))
					if res.err != nil || res.code != 200 || res.body != tc.want {
						t.Errorf("got %d %q (%v), want 200 %q", res.code, res.body, res.err, tc.want)
					}
				})
			}
			t.Run("plaintext refused", func(t *testing.T) {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write([]byte("GET /tls HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != 400 {
					t.Errorf("plaintext request on the TLS port: %d, want 400", resp.StatusCode)
				}
			})
		})
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
