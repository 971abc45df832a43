package hostile

import (
	"bufio"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/internal/conformance"
	"github.com/hotpath-dev/hotpath/server"
)

// marker is the request pipelined behind every malformed one. An engine
// that answers it has taken bytes of the bad request (or the bytes after
// it) as a request boundary it should not have trusted: the essence of
// request smuggling.
const marker = "GET /json HTTP/1.1\r\nHost: x\r\n\r\n"

// promptly bounds how long a refusal may take. The parsing profile's
// socket timeouts are far longer (parseTimeout), so an engine that waits
// for more bytes, or for a timeout, instead of refusing fails the case.
const (
	promptly     = 2 * time.Second
	parseTimeout = 10 * time.Second
)

// parseCase is one malformed or ambiguous request.
type parseCase struct {
	name string
	req  string // the raw request; marker is sent right behind it
	// want are the refusal statuses that are right for it.
	want []int
	// orClose: processing the request and then closing the connection is
	// also right (RFC 9112 §6.1 for Content-Length with Transfer-Encoding).
	orClose bool
	// alone: send req without the marker behind it (the marker's bytes
	// would complete what the engine is waiting for).
	alone bool
	// wellFormed are refusals of a request that is framed correctly (an
	// unknown method): the connection may stay open, and then the marker
	// behind it must get its own 200.
	wellFormed []int
}

var (
	badRequest  = []int{400}
	badOr501    = []int{400, 501}
	badOr413    = []int{400, 413}
	badOrMethod = []int{400, 405, 501}
	unknownVerb = []int{405, 501}
	badOr505    = []int{400, 505}
)

// parseCases are the malformed and ambiguous requests; every one must be
// refused at once (never 200, never a wait for more bytes) and its
// connection closed with the pipelined marker unanswered.
func parseCases() []parseCase {
	post := "POST /echo HTTP/1.1\r\nHost: x\r\n"
	chunked := post + "Transfer-Encoding: chunked\r\n\r\n"
	return []parseCase{
		// Framing: the classic desync inputs (RFC 9112 §6.1, §6.3).
		{name: "Content-Length with Transfer-Encoding", orClose: true, want: badRequest,
			req: post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "two different Content-Lengths", want: badRequest,
			req: post + "Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"},
		{name: "Transfer-Encoding chunked, identity", want: badOr501,
			req: post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
		{name: "Transfer-Encoding identity with Content-Length", want: badOr501,
			req: post + "Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nabcde"},
		{name: "Transfer-Encoding with obs-fold", want: badRequest,
			req: post + "Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"},
		{name: "Content-Length with a plus sign", want: badRequest,
			req: post + "Content-Length: +5\r\n\r\nabcde"},
		{name: "chunk size not hex", want: badRequest,
			req: chunked + "zz\r\nabcde\r\n0\r\n\r\n"},
		{name: "chunk size negative", want: badRequest,
			req: chunked + "-5\r\nabcde\r\n0\r\n\r\n"},
		{name: "chunk size with 0x prefix", want: badRequest,
			req: chunked + "0x5\r\nabcde\r\n0\r\n\r\n"},
		{name: "chunk size of 20 hex digits", want: badOr413,
			req: chunked + "fffffffffffffffffff5\r\nabcde\r\n0\r\n\r\n"},
		// Line and field syntax (RFC 9112 §2.2, §5; RFC 9110 §5.5).
		{name: "bare LF line endings", want: badRequest, alone: true,
			req: "GET /time HTTP/1.1\nHost: x\n\n"},
		{name: "bare LF line endings with a request behind", want: badRequest,
			req: "GET /time HTTP/1.1\nHost: x\n\n"},
		{name: "NUL in a header value", want: badRequest,
			req: "GET /time HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"},
		{name: "space in a header name", want: badRequest,
			req: "GET /time HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n"},
		{name: "space before the colon", want: badRequest,
			req: "GET /time HTTP/1.1\r\nHost : x\r\n\r\n"},
		// Host (RFC 9112 §3.2).
		{name: "HTTP/1.1 without Host", want: badRequest,
			req: "GET /time HTTP/1.1\r\n\r\n"},
		{name: "two Host headers", want: badRequest,
			req: "GET /time HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"},
		{name: "invalid Host", want: badRequest,
			req: "GET /time HTTP/1.1\r\nHost: a b\r\n\r\n"},
		// Request line (RFC 9112 §3).
		{name: "extra request-line token", want: badRequest,
			req: "GET /time HTTP/1.1 extra\r\nHost: x\r\n\r\n"},
		// Methods are case-sensitive (RFC 9110 §9.1): "get" is not GET.
		{name: "lowercase method", want: badOrMethod, wellFormed: unknownVerb,
			req: "get /time HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "HTTP/2.0 request line", want: badOr505,
			req: "GET /time HTTP/2.0\r\nHost: x\r\n\r\n"},
	}
}

// parseConfig is the profile of the parsing cases: small limits, long
// socket timeouts (so a wait for a timeout shows as a failure), no auth.
func parseConfig() server.Config {
	return server.Config{
		MaxBodyBytes:      1024,
		MaxHeaderBytes:    1024,
		ReadHeaderTimeout: parseTimeout,
		ReadTimeout:       parseTimeout,
		IdleTimeout:       parseTimeout,
		RequestTimeout:    5 * time.Second,
	}
}

func runParsing(t *testing.T, f conformance.Factory, except map[string]string) {
	r := startEngine(t, f, parseConfig())
	for _, tc := range parseCases() {
		t.Run(tc.name, func(t *testing.T) {
			skipIfExcepted(t, except, tc.name)
			checkRefused(t, r.host, tc)
		})
	}
}

// checkRefused sends tc.req with the marker behind it on a new connection
// and checks the one answer and the close.
func checkRefused(t *testing.T, host string, tc parseCase) {
	c := dial(t, host)
	send := tc.req + marker
	if tc.alone {
		send = tc.req
	}
	if _, err := c.Write([]byte(send)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	br := bufio.NewReader(c)
	res, body, err := readResponse(c, br, parseTimeout+5*time.Second)
	elapsed := time.Since(start)
	switch {
	case err != nil && isTimeout(err):
		t.Fatalf("no answer within %v: the engine waits instead of refusing", parseTimeout+5*time.Second)
	case err != nil:
		t.Fatalf("no answer, %v after %v; want %v and a close", err, elapsed.Round(time.Millisecond), tc.want)
	}
	got := strconv.Itoa(res.StatusCode) + " " + strconv.Quote(clip(body))
	refused := slices.Contains(tc.want, res.StatusCode)
	if !refused && !tc.orClose {
		t.Errorf("answered %s; want one of %v", got, tc.want)
	}
	if elapsed > promptly {
		t.Errorf("answered after %v (the engine waited for a timeout); want at once", elapsed.Round(time.Millisecond))
	}
	if slices.Contains(tc.wellFormed, res.StatusCode) && !res.Close {
		next, body, err := readResponse(c, br, promptly)
		if err != nil || next.StatusCode != 200 || !strings.Contains(string(body), "Hello, World!") {
			t.Errorf("after %s on a kept-alive connection, the pipelined GET /json: %v, %v; want its 200", got, next, err)
		}
		return
	}
	rest, err := waitClosed(c, br, promptly+time.Second)
	switch {
	case len(rest) > 0:
		t.Errorf("after %s: the pipelined request was answered (smuggling): %q", got, clip(rest))
	case err != nil && isTimeout(err):
		t.Errorf("after %s: the connection stayed open; want it closed", got)
	case err != nil:
		t.Errorf("after %s: %v", got, err)
	}
	if !refused && tc.orClose && !res.Close {
		t.Errorf("processed (%s) without Connection: close", got)
	}
}

// clip shortens b for messages.
func clip(b []byte) string {
	s := string(b)
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
