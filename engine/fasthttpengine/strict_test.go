package fasthttpengine

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
)

func TestHeaderBlockFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		block string
		want  int
	}{
		{"empty block (no header lines)", "", 0},
		{"plain headers", "Host: x\r\nX-A: b\r\n\r\n", 0},
		{"chunked in any case with spaces", "Host: x\r\ntransfer-encoding:  Chunked \r\n\r\n", 0},
		{"token punctuation in a name", "X-!#$%&'*+.^_`|~: v\r\n\r\n", 0},
		{"bare LF", "Host: x\n\n", 400},
		{"bare LF on the blank line only", "Host: x\r\n\n", 400},
		{"obs-fold", "Host: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"obs-fold with a tab", "Host: x\r\nX-A:\r\n\tb\r\n\r\n", 400},
		{"space in a name", "Host: x\r\nX A: b\r\n\r\n", 400},
		{"space before the colon", "Host : x\r\n\r\n", 400},
		{"empty name", ": x\r\n\r\n", 400},
		{"no colon", "Host\r\n\r\n", 400},
		{"unterminated line", "Host: x", 400},
		{"bytes after the blank line", "Host: x\r\n\r\nGET", 400},
		{"identity", "Transfer-Encoding: identity\r\n\r\n", 501},
		{"chunked, identity", "Transfer-Encoding: chunked, identity\r\n\r\n", 501},
		{"empty Transfer-Encoding", "Transfer-Encoding:\r\n\r\n", 501},
		{"obs-folded Transfer-Encoding is 400, not 501", "Transfer-Encoding:\r\n chunked\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := headerBlockFault([]byte(tt.block)); got != tt.want {
				t.Errorf("headerBlockFault(%q) = %d, want %d", tt.block, got, tt.want)
			}
		})
	}
}

// refHeaderBlockFault is headerBlockFault written the plain way (split into
// lines, then strings functions), for the fuzz test to compare against.
func refHeaderBlockFault(raw string) int {
	if raw == "" {
		return 0
	}
	if !strings.HasSuffix(raw, "\r\n\r\n") && raw != "\r\n" {
		return 400 // no blank line at the end
	}
	lines := strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n")
	lines = lines[:len(lines)-1] // the blank line
	fault := 0
	for _, l := range lines {
		if strings.ContainsAny(l, "\n") || l == "" {
			return 400
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.IndexFunc(name, func(r rune) bool { return r >= 256 || !isTokenByte[r] }) >= 0 {
			return 400
		}
		if strings.EqualFold(name, "Transfer-Encoding") && !strings.EqualFold(strings.Trim(value, " \t"), "chunked") {
			fault = 501
		}
	}
	return fault
}

// FuzzHeaderBlockFault checks headerBlockFault against the plain
// reference on any bytes.
func FuzzHeaderBlockFault(f *testing.F) {
	for _, seed := range []string{
		"", "\r\n", "Host: x\r\n\r\n", "Host: x\n\n", "Host: x\r\nX-A: a\r\n b\r\n\r\n",
		"X A: b\r\n\r\n", "Host : x\r\n\r\n", "Transfer-Encoding: identity\r\n\r\n",
		"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "Transfer-Encoding:\r\n chunked\r\n\r\n",
		"Host: x\r\n\r\nGET / HTTP/1.1\r\n\r\n", "A: \xff\r\n\r\n", "\xff: a\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, want := headerBlockFault(raw), refHeaderBlockFault(string(raw))
		if got != want {
			t.Fatalf("headerBlockFault(%q) = %d, reference says %d", raw, got, want)
		}
	})
}

// parsedHeader returns a RequestHeader fasthttp parsed from the wire bytes
// req, as a server would.
func parsedHeader(tb testing.TB, req string) *fasthttp.RequestHeader {
	tb.Helper()
	var h fasthttp.RequestHeader
	if err := h.Read(bufio.NewReader(strings.NewReader(req))); err != nil {
		tb.Fatalf("fasthttp cannot parse %q: %v", req, err)
	}
	return &h
}

func TestRequestFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  string
		want int
	}{
		{"GET over HTTP/1.1", "GET /time HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"GET over HTTP/1.0", "GET /time HTTP/1.0\r\n\r\n", 0},
		{"HTTP/2.0 request line", "GET /time HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"HTTP/1.2 request line", "GET /time HTTP/1.2\r\nHost: x\r\n\r\n", 505},
		// The cases fasthttp v1.78.0 accepts on its own.
		{"Transfer-Encoding identity", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\n", 501},
		{"space in a header name", "GET /time HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", 400},
		{"obs-fold", "GET /time HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"bare LF, completed by a CRLF block behind it", "GET /time HTTP/1.1\nHost: x\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := requestFault(parsedHeader(t, tt.req)); got != tt.want {
				t.Errorf("requestFault(%q) = %d, want %d", tt.req, got, tt.want)
			}
		})
	}
}

// TestRequestFaultAllocs: the check runs on every request and must not
// allocate.
func TestRequestFaultAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	h := parsedHeader(t, "GET /time HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\n\r\n")
	if allocs := testing.AllocsPerRun(1000, func() { requestFault(h) }); allocs != 0 {
		t.Errorf("requestFault: %.1f allocs per request, want 0", allocs)
	}
}

// BenchmarkRequestFault is the check's cost per request for a small and a
// browser-sized header block.
func BenchmarkRequestFault(b *testing.B) {
	for _, bc := range []struct{ name, req string }{
		{"wrk", "GET /time HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"},
		{"browser", "GET /time HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
			"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n" +
			"Accept-Encoding: gzip, deflate, br, zstd\r\nConnection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n" +
			"Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\nSec-Fetch-User: ?1\r\nPriority: u=0, i\r\n\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := parsedHeader(b, bc.req)
			b.ReportAllocs()
			for b.Loop() {
				if requestFault(h) != 0 {
					b.Fatal("refused")
				}
			}
		})
	}
}

// TestExpectContinueOverLimit: a declared body over MaxBodyBytes with
// Expect: 100-continue is refused with the engine's 413 (body, request ID)
// before any 100 Continue, and the connection closes. It also guards the
// engine's use of ExpectHandler (see expect): fasthttp must still send the
// response the handler wrote.
func TestExpectContinueOverLimit(t *testing.T) {
	s, err := New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff, MaxBodyBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	RegisterService(s)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q); want the 413 and a close", err, got)
	}
	for _, want := range []string{"HTTP/1.1 413 ", "\r\nX-Request-Id: ", "\r\nConnection: close\r\n", "\r\n\r\n" + bodyTooLarge} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("response %q lacks %q", got, want)
		}
	}
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 413 ")) {
		t.Errorf("response %q does not start with the 413 (a 100 Continue first?)", got)
	}
}
