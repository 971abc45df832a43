package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hidden is a complete request carried as the body of another: an engine
// that answers it has taken body bytes for a request (smuggling).
const hidden = "GET /json HTTP/1.1\r\nHost: x\r\n\r\n"

// behind is the request pipelined after the carrier: it must be answered,
// which shows the engine found the carrier's end where its framing says.
const behind = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

// chunked frames s as one chunk and the last chunk.
func chunked(s string) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(s), s)
}

// TestGapBodyOnBodilessMethods: a GET, HEAD, DELETE, OPTIONS (or a POST
// /echo) whose body (framed by Content-Length or chunked) is itself a
// request: every engine
// either reads and drops the body, answering the carrier and then the
// request pipelined behind it, or answers the carrier with Connection:
// close (or refuses it with 400) and closes; the hidden request is never
// answered.
func TestGapBodyOnBodilessMethods(t *testing.T) {
	type carrier struct{ name, req string }
	var carriers []carrier
	for _, m := range []string{"GET /time", "HEAD /time", "DELETE /time", "OPTIONS /time", "POST /echo"} {
		carriers = append(carriers,
			carrier{m + " with Content-Length", m + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(hidden)) + "\r\n\r\n" + hidden},
			carrier{m + " chunked", m + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(hidden)})
	}
	for _, e := range append(append([]gapEngine{}, http1Engines...), tlsEngines[0]) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t)
			for _, cr := range carriers {
				t.Run(cr.name, func(t *testing.T) {
					c := dialRaw(t, p.addr, e.tls)
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := c.Write([]byte(cr.req + behind)); err != nil {
						t.Fatal(err)
					}
					br := bufio.NewReader(c)
					method, _, _ := strings.Cut(cr.name, " ")
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					first, err := http.ReadResponse(br, &http.Request{Method: method})
					if err != nil {
						t.Fatalf("no answer to the carrier: %v", err)
					}
					b, _ := io.ReadAll(first.Body)
					first.Body.Close()
					got := []string{first.Status + " " + strconv.Quote(clip(b))}
					if first.StatusCode == 400 {
						if rest, err := waitClosed(c, br, 3*time.Second); err != nil || len(rest) > 0 {
							t.Errorf("after 400: %q, %v; want the connection closed", clip(rest), err)
						}
						t.Logf("answers %q", got)
						return
					}
					if first.StatusCode >= 500 {
						t.Fatalf("the carrier was answered %q", got)
					}
					if first.Close {
						// Answered with Connection: close (net/http after
						// a chunked request): the connection must then
						// close, with nothing more answered.
						if rest, err := waitClosed(c, br, 3*time.Second); err != nil || len(rest) > 0 {
							t.Errorf("after %q with Connection: close: %q, %v; want the connection closed", got, clip(rest), err)
						}
						t.Logf("answers %q, then closed", got)
						return
					}
					second, body, err := readResponse(c, br, 5*time.Second)
					if err != nil {
						t.Fatalf("after %q: no answer to the request behind it: %v", got, err)
					}
					got = append(got, second.Status+" "+strconv.Quote(clip(body)))
					if strings.Contains(string(body), "Hello, World!") || second.StatusCode != 200 {
						t.Fatalf("answers %q: the request hidden in the body was answered, or the one behind it was not", got)
					}
					_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
					if n, _ := br.Read(make([]byte, 1)); n > 0 {
						t.Errorf("answers %q and more: a third answer came", got)
					}
					t.Logf("answers %q", got)
				})
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}

// The chunk-extension cases: bodies whose framing is mostly chunk
// extensions (RFC 9112 §7.1.1), which cost a server reading and parsing
// but add nothing to the body that --max-body-bytes counts.
const (
	extChunks = 4096     // 1-byte chunks, each with extLen of extension
	extLen    = 1000     // 4 MiB of extensions for 4 KiB of body
	extConns  = 8        // connections that each send one huge extension
	extHuge   = 16 << 20 // bytes of that extension
	extRSS    = 32 << 20 // what serve's RSS may grow meanwhile
)

// TestGapChunkExtensionAmplification: on every engine, and TLS,
//   - a chunked POST /echo whose chunks carry 4 MiB of extensions for
//     4 KiB of data is refused (4xx) or echoed exactly;
//   - 8 connections that each send a chunk-size line with a 16 MiB
//     extension cost serve under 32 MiB of RSS while they send (the line is
//     refused or skipped, never buffered whole), and each is then refused
//     (4xx) or its 1-byte body echoed exactly (fasthttp skips extensions,
//     as nginx does); never a 5xx;
//   - serve stays up and answers.
func TestGapChunkExtensionAmplification(t *testing.T) {
	const head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
	var many strings.Builder
	ext := ";e=" + strings.Repeat("x", extLen)
	for range extChunks {
		many.WriteString("1" + ext + "\r\nz\r\n")
	}
	many.WriteString("0\r\n\r\n")
	huge := []byte(head + "1;e=" + strings.Repeat("x", extHuge))
	// checkAnswer reads c's answer: a 4xx, or 200 with want.
	checkAnswer := func(t *testing.T, c net.Conn, want string) {
		t.Helper()
		res, body, err := readResponse(c, bufio.NewReader(c), 10*time.Second)
		if err != nil {
			if closedTLS(err) == nil {
				return // refused by closing before an answer: nothing served
			}
			t.Fatalf("no answer: %v", err)
		}
		if !(res.StatusCode >= 400 && res.StatusCode < 500) && !(res.StatusCode == 200 && string(body) == want) {
			t.Errorf("answered %d %q; want a 4xx or the exact echo", res.StatusCode, clip(body))
		}
	}
	for _, e := range append(append([]gapEngine{}, http1Engines...), tlsEngines[0]) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t)
			t.Run("4 MiB of extensions over 4 KiB of data", func(t *testing.T) {
				c := dialRaw(t, p.addr, e.tls)
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
					_, _ = c.Write([]byte(head + many.String()))
				}()
				checkAnswer(t, c, strings.Repeat("z", extChunks))
				c.Close()
				<-done
			})
			t.Run("8 connections × one 16 MiB extension", func(t *testing.T) {
				rss0 := p.rss(t)
				conns := make([]net.Conn, extConns)
				var wg sync.WaitGroup
				for i := range conns {
					conns[i] = dialRaw(t, p.addr, e.tls)
					wg.Go(func() {
						_ = conns[i].SetWriteDeadline(time.Now().Add(10 * time.Second))
						_, _ = conns[i].Write(huge)
					})
				}
				wg.Wait() // all sent, or refused and closed
				grew := p.rss(t) - rss0
				t.Logf("RSS +%d MiB with %d × %d MiB extension lines sent", grew>>20, extConns, extHuge>>20)
				if grew > extRSS {
					t.Errorf("RSS grew by %d MiB while %d connections sent a %d MiB chunk extension; want under %d MiB",
						grew>>20, extConns, extHuge>>20, extRSS>>20)
				}
				for _, c := range conns {
					_ = c.SetWriteDeadline(time.Now().Add(time.Second))
					_, _ = c.Write([]byte("\r\nz\r\n0\r\n\r\n"))
					checkAnswer(t, c, "z")
					c.Close()
				}
			})
			p.alive(t)
			p.noPanic(t)
			hc, base := client(t, p, e.tls)
			if err := getOK(hc, base+"/time"); err != nil {
				t.Errorf("after: %v", err)
			}
		})
	}
}
