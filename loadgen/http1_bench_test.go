package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/report"
)

// cannedServer answers every fixed-size request on each connection with
// the same response, without allocating per request, so that allocation
// counts and benchmarks measure the client alone.
func cannedServer(tb testing.TB, reqLen int) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nServer: canned\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n1764175200000")
	done := make(chan struct{})
	tb.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() {
				buf := make([]byte, reqLen)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/time"
}

func newH1(tb testing.TB, url string) (*h1Client, *worker) {
	tb.Helper()
	c, tgt, err := Config{URL: url}.check()
	if err != nil {
		tb.Fatal(err)
	}
	tr := newTransport(c, tgt).(*h1Transport)
	srvURL := cannedServer(tb, len(tr.req))
	c, tgt, _ = Config{URL: srvURL}.check()
	tr = newTransport(c, tgt).(*h1Transport)
	cs, err := tr.Open(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cs[0].Close() })
	return cs[0].(*h1Client), &worker{lat: report.NewHistogram(), closed: true}
}

// TestHTTP1RequestDoesNotAllocate is the zero-allocation promise of the
// HTTP/1.1 path: sending a request, reading the response and recording it.
func TestHTTP1RequestDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	cl, w := newH1(t, "http://127.0.0.1:1/time")
	ctx := context.Background()
	start := time.Now()
	n := testing.AllocsPerRun(2000, func() {
		sent := time.Since(start)
		cl.Do(ctx, &w.out)
		if w.out.Err != nil || w.out.Status != 200 {
			t.Fatalf("Do: %v status %d", w.out.Err, w.out.Status)
		}
		w.record(sent, sent, time.Since(start))
	})
	if n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// BenchmarkClient compares the lean HTTP/1.1 client with net/http's client
// on the same canned keep-alive server, one request at a time.
func BenchmarkClient(b *testing.B) {
	b.Run("hotpath-h1", func(b *testing.B) {
		cl, w := newH1(b, "http://127.0.0.1:1/time")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			cl.Do(ctx, &w.out)
			if w.out.Err != nil {
				b.Fatal(w.out.Err)
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/time", nil)
		req.Header.Set("User-Agent", "hotpath-bench")
		// Requests from net/http differ in size from ours; size the canned
		// server to what net/http sends.
		probe := &captureLen{}
		req.Write(probe)
		url := cannedServer(b, probe.n)
		req, _ = http.NewRequest("GET", url, nil)
		req.Header.Set("User-Agent", "hotpath-bench")
		cl := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}}
		defer cl.CloseIdleConnections()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := cl.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

type captureLen struct{ n int }

func (c *captureLen) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
