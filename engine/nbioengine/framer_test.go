package nbioengine

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// run feeds the pieces to a new framer and summarises what it asked for:
// the bytes nbio would get, "!413(n)" for a refused body, "!len(n)" for a
// body with a length that nbio gets chunked, "!400" for a refusal, "+100"
// for a 100 Continue.
func run(pieces ...string) string {
	f := newFramer(1024, 100)
	var out strings.Builder
	for _, p := range pieces {
		for _, a := range f.feed([]byte(p)) {
			switch a.kind {
			case actPass:
				out.Write(a.b)
			case actContinue:
				out.WriteString("+100")
			case actTooLarge:
				fmt.Fprintf(&out, "!413(%d)", a.declared)
			case actLength:
				fmt.Fprintf(&out, "!len(%d)", a.declared)
			case actReject:
				fmt.Fprintf(&out, "!%d", a.status)
			}
		}
	}
	return out.String()
}

func TestFramer(t *testing.T) {
	get := "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"
	post := "POST /echo HTTP/1.1\r\nHost: x\r\n"
	tests := []struct {
		name   string
		pieces []string
		want   string
	}{
		{"a request passes as it came", []string{get}, get},
		{"pipelined requests pass in one piece", []string{get + get}, get + get},
		{"a head split anywhere", []string{get[:7], get[7:29], get[29:]}, get},
		{"terminator split across reads", []string{get[:len(get)-1], get[len(get)-1:]}, get},
		{"a body by length reaches nbio as chunks, one per read", []string{post + "Content-Length: 5\r\n\r\nab", "cde" + get},
			"!len(5)" + post + "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n" + get},
		{"an HTTP/1.0 body keeps its length", []string{"POST /echo HTTP/1.0\r\nContent-Length: 3\r\n\r\na", "bc"},
			"POST /echo HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"},
		{"chunked body is rebuilt without extensions", []string{post + "Transfer-Encoding: chunked\r\n\r\n3;x=\"y\"\r\nabc\r\n0\r\n\r\n"},
			post + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"chunked body in pieces", []string{post + "Transfer-Encoding: chunked\r\n\r\n", "a", "\r\n0123456789", "\r", "\n0\r\n", "\r\n"},
			post + "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"},
		{"trailers are dropped", []string{post + "Trailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: v\r\n\r\n"},
			post + "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"},
		{"Content-Length over the limit: head without it, then nothing", []string{post + "Content-Length: 101\r\n\r\nabc", get},
			"!413(101)" + post + "\r\n"},
		{"chunked over the limit ends the body at once", []string{post + "Transfer-Encoding: chunked\r\n\r\n60\r\n" + strings.Repeat("a", 0x60) + "\r\n10\r\n", get},
			post + "Transfer-Encoding: chunked\r\n\r\n60\r\n" + strings.Repeat("a", 0x60) + "\r\n!413(-1)0\r\n\r\n"},
		{"100-continue within the limit", []string{post + "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n", "abc"},
			"!len(3)" + post + "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n+1003\r\nabc\r\n0\r\n\r\n"},
		{"100-continue over the limit is 413 without 100", []string{post + "Expect: 100-continue\r\nContent-Length: 500\r\n\r\n"},
			"!413(500)" + post + "Expect: 100-continue\r\n\r\n"},
		{"a refused request after a good one", []string{get + "GET /time HTTP/1.1\r\n\r\n" + get}, get + "!400"},
		{"oversized head is 431 before its end", []string{"GET /time HTTP/1.1\r\nX: " + strings.Repeat("a", 1100)}, "!431"},
		{"bare LF is 400 before its end", []string{"GET /time HTTP/1.1\nHost: x\n"}, "!400"},
		{"bad chunk CRLF is never passed", []string{post + "Transfer-Encoding: chunked\r\n\r\n1\r\naXY"},
			post + "Transfer-Encoding: chunked\r\n\r\n1\r\na!400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.pieces...); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestParseHead(t *testing.T) {
	tests := []struct {
		name, head string
		status     int
	}{
		{"valid", "GET /a?b=%20 HTTP/1.1\r\nHost: x\r\nX: a b\t\r\n\r\n", 0},
		{"HTTP/1.0 needs no Host", "GET / HTTP/1.0\r\n\r\n", 0},
		{"asterisk for OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", 400},
		{"invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00\r\n\r\n", 400},
		{"space in a name", "GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", 400},
		{"space before the colon", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
		{"plus sign in Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400},
		{"two different lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"same length twice", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 0},
		{"length with chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"extra request-line token", "GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", 400},
		{"lowercase method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", 501},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"absolute form", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad escape", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: x\r\n\r\n", 417},
		{"HTTP/1.0 with a transfer coding", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"too many framing lines", "POST / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("Content-Length: 1\r\n", 5) + "\r\n", 400},
		{"leading blank line", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := parseHead([]byte(tc.head)); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
		})
	}
}

// FuzzFramer checks that the framer never panics, that nothing is passed
// after a refusal, and that where a read ends changes nothing: nbio gets
// the same requests (as net/http's reader reads them from the passed
// bytes; a body's chunks follow the reads) and the same refusals whether
// the input comes whole or in two pieces.
func FuzzFramer(f *testing.F) {
	for _, s := range []string{
		"GET /time HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nX: y\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 500\r\n\r\n",
		"GET /time HTTP/1.1\nHost: x\n\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n",
	} {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		whole := runChecked(t, in)
		at := int(split) % (len(in) + 1)
		parts := runChecked(t, in[:at], in[at:])
		if whole != parts {
			t.Fatalf("split at %d changes the outcome:\nwhole %q\nparts %q", at, whole, parts)
		}
	})
}

// runChecked feeds the pieces, failing t if anything is passed after a
// refusal, and describes the outcome: the requests nbio gets, read back
// with net/http's reader, then the framer's other actions.
func runChecked(t *testing.T, pieces ...[]byte) string {
	f := newFramer(1024, 100)
	var passed bytes.Buffer
	var events []string
	refused := false
	for _, p := range pieces {
		for _, a := range f.feed(p) {
			if refused {
				t.Fatalf("action %d after a refusal (so far %q)", a.kind, passed.String())
			}
			switch a.kind {
			case actPass:
				passed.Write(a.b)
			case actContinue:
				events = append(events, "100")
			case actTooLarge:
				events = append(events, fmt.Sprintf("413(%d)", a.declared))
			case actLength:
				events = append(events, fmt.Sprintf("len(%d)", a.declared))
			case actReject:
				events = append(events, fmt.Sprint(a.status))
				refused = true
			}
		}
	}
	var out strings.Builder
	br := bufio.NewReader(&passed)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			fmt.Fprintf(&out, "end: %v; ", err)
			break
		}
		body, err := io.ReadAll(req.Body)
		fmt.Fprintf(&out, "%s %s %v %q %v; ", req.Method, req.RequestURI, req.Header, body, err)
	}
	fmt.Fprintf(&out, "events %v", events)
	return out.String()
}

// The framer sits on every request's path: a request that arrives whole
// costs it no allocation, nor does a body by length once warmed up.
func TestFramerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	f := newFramer(16<<10, 1<<20)
	get := []byte("GET /time HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n")
	post := []byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
	body := []byte("hello")
	f.feed(post)
	f.feed(body)
	if n := testing.AllocsPerRun(200, func() { f.feed(get) }); n != 0 {
		t.Errorf("GET: %v allocations per request, want 0", n)
	}
	if n := testing.AllocsPerRun(200, func() { f.feed(post); f.feed(body) }); n != 0 {
		t.Errorf("POST with a length: %v allocations per request, want 0", n)
	}
}

func BenchmarkFramerGet(b *testing.B) {
	f := newFramer(16<<10, 1<<20)
	get := []byte("GET /time HTTP/1.1\r\nHost: example.com\r\nUser-Agent: hotpath\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(get)))
	for b.Loop() {
		f.feed(get)
	}
}
