package hostile

import (
	"bytes"
	"crypto/tls"
	"errors"
	"math"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
)

// headerBlock HPACK-encodes fields.
func headerBlock(fields ...[2]string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return b.Bytes()
}

var (
	getTime  = headerBlock([2]string{":method", "GET"}, [2]string{":scheme", "http"}, [2]string{":path", "/time"}, [2]string{":authority", "x"})
	grpcCall = headerBlock([2]string{":method", "POST"}, [2]string{":scheme", "http"}, [2]string{":path", "/hotpath.v1.TimeService/Now"},
		[2]string{":authority", "x"}, [2]string{"content-type", "application/grpc"}, [2]string{"te", "trailers"})
)

// HTTP/2 floods against `hotpath serve` (default engine, and the fasthttp
// engine's gRPC side), on both sides of the shared port, and against the
// net/http engine on a port without gRPC that serves HTTP/2 (--h2c, TLS):
// each flood is cut off with GOAWAY(ENHANCE_YOUR_CALM) within 2 s, the
// server spends little CPU on it, and another client is served meanwhile.
func TestH2FloodsAgainstServe(t *testing.T) {
	ports := []struct {
		name  string
		args  []string
		sides []string
		tls   bool
	}{
		{"nethttp", nil, []string{"grpc", "http"}, false},
		// plain HTTP/2 is refused on fasthttp (GOAWAY HTTP_1_1_REQUIRED)
		{"fasthttp", []string{"--engine", "fasthttp"}, []string{"grpc"}, false},
		{"nethttp-no-grpc-h2c", []string{"--grpc=false", "--h2c"}, []string{"http"}, false},
		{"nethttp-no-grpc-tls", []string{"--grpc=false", "--tls-self-signed"}, []string{"http"}, true},
	}
	for _, port := range ports {
		engine := port.name
		p := startServe(t, nil, port.args...)
		var dial h2raw.Options
		if port.tls {
			dial.TLS = &tls.Config{InsecureSkipVerify: true}
		}
		for _, side := range port.sides {
			first := map[string][]byte{"grpc": grpcCall, "http": getTime}[side]
			for _, fl := range h2raw.Floods {
				t.Run(engine+"/"+side+"/"+fl.Name, func(t *testing.T) {
					cpu0 := p.cpuTime(t)
					r := h2raw.Dial(t, p.addr, dial)
					if err := r.Write(func(fr *http2.Framer) error {
						return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndHeaders: true, EndStream: side == "http"})
					}); err != nil {
						t.Fatal(err)
					}
					start := time.Now()
					stop := make(chan struct{})
					sent := make(chan int, 1)
					go func() { sent <- r.Flood(fl.Write, first, math.MaxInt, stop, 5*time.Second) }()
					// Meanwhile another client is served.
					c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: insecureTLS(), ForceAttemptHTTP2: true}}
					if resp, err := c.Get(map[bool]string{false: "http://", true: "https://"}[port.tls] + p.addr + "/time"); err != nil {
						t.Errorf("GET /time during the flood: %v", err)
					} else {
						resp.Body.Close()
					}
					calm, err := r.UntilClosed(2 * time.Second)
					var ne interface{ Timeout() bool }
					if errors.As(err, &ne) && ne.Timeout() {
						t.Errorf("the flood was not cut off within 2 s")
					}
					close(stop)
					n := <-sent
					if !calm {
						t.Errorf("connection ended without GOAWAY ENHANCE_YOUR_CALM")
					}
					cpu := p.cpuTime(t) - cpu0
					t.Logf("cut off after %v and %d frames; server CPU %v", time.Since(start).Round(time.Millisecond), n, cpu)
					if cpu > time.Second {
						t.Errorf("server CPU during the flood: %v, want < 1s", cpu)
					}
					p.alive(t)
				})
			}
		}
	}
}

// A client that opens its window to 0 and asks for a large response holds
// no more than the response: the server stops the stream at its write
// timeout and memory comes back.
func TestH2ZeroWindowClient(t *testing.T) {
	p := startServe(t, nil, "--write-timeout", "2s", "--request-timeout", "1s")
	rss0 := p.rss(t)
	const conns = 20
	body := bytes.Repeat([]byte("z"), 512<<10)
	block := headerBlock([2]string{":method", "POST"}, [2]string{":scheme", "http"}, [2]string{":path", "/echo"},
		[2]string{":authority", "x"}, [2]string{"content-type", "application/octet-stream"})
	var rs []*h2raw.Conn
	for range conns {
		r := h2raw.Dial(t, p.addr, h2raw.Options{})
		_ = r.Write(func(fr *http2.Framer) error {
			_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true})
		})
		rs = append(rs, r)
	}
	// Send the bodies within the server's windows (connection 1 MiB+ in
	// net/http's default, stream 1 MiB): 512 KiB fits.
	for _, r := range rs {
		for off := 0; off < len(body); off += 16 << 10 {
			_ = r.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := r.Write(func(fr *http2.Framer) error { return fr.WriteData(1, off+16<<10 >= len(body), body[off:off+16<<10]) }); err != nil {
				t.Fatalf("sending the body: %v", err)
			}
		}
	}
	// Each stream must end (RST_STREAM or the connection closed) within
	// the write timeout plus slack, without the client reading its body.
	for i, r := range rs {
		r.Await(6*time.Second, "the stream's end", func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.RSTStreamFrame:
				return f.StreamID == 1
			case *http2.GoAwayFrame:
				return true
			}
			return false
		})
		_ = i
	}
	grew := p.rss(t) - rss0
	t.Logf("RSS grew %d KiB for %d zero-window clients of %d KiB responses", grew>>10, conns, len(body)>>10)
	if grew > 64<<20 {
		t.Errorf("RSS grew %d MiB", grew>>20)
	}
	p.alive(t)
}
