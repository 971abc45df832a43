package hostile

import (
	"bufio"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/internal/conformance"
)

// limitCase sends head (and body, if any) and wants status at once. What
// the engine then does with the connection is its business: it may read
// and drop the rest of a small body (bounded by its read timeout).
type limitCase struct {
	name   string
	head   string
	body   string
	status int
}

func limitCases() []limitCase {
	lim := int(parseConfig().MaxBodyBytes)
	over := strconv.Itoa(10 * lim)
	post := "POST /echo HTTP/1.1\r\nHost: x\r\n"
	var chunks strings.Builder
	for range 4 {
		fmt.Fprintf(&chunks, "%x\r\n%s\r\n", lim/2+1, strings.Repeat("c", lim/2+1))
	}
	chunks.WriteString("0\r\n\r\n")
	return []limitCase{
		// net/http allows 4 KiB of slack over MaxHeaderBytes; go well past it.
		{name: "oversized headers are 431", status: 431,
			head: "GET /time HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", parseConfig().MaxHeaderBytes+8<<10) + "\r\n\r\n"},
		// The body is never sent: the answer must not wait for it.
		{name: "Content-Length over the limit is 413 before the body", status: 413,
			head: post + "Content-Length: " + over + "\r\n\r\n"},
		{name: "chunked body over the limit is 413", status: 413,
			head: post + "Transfer-Encoding: chunked\r\n\r\n", body: chunks.String()},
		// RFC 9110 §10.1.1: a server that will refuse the body answers the
		// final status instead of 100 Continue, and the client never sends it.
		{name: "Expect 100-continue over the limit is 413 without 100", status: 413,
			head: post + "Expect: 100-continue\r\nContent-Length: " + over + "\r\n\r\n"},
	}
}

func runLimits(t *testing.T, f conformance.Factory, except map[string]string) {
	r := startEngine(t, f, parseConfig())
	for _, tc := range limitCases() {
		t.Run(tc.name, func(t *testing.T) {
			skipIfExcepted(t, except, tc.name)
			c := dial(t, r.host)
			if _, err := c.Write([]byte(tc.head + tc.body)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			br := bufio.NewReader(c)
			// The status line first, raw: http.ReadResponse would skip a
			// 100 Continue silently.
			_ = c.SetReadDeadline(time.Now().Add(parseTimeout + 5*time.Second))
			line, err := textproto.NewReader(br).ReadLine()
			if err != nil {
				t.Fatalf("no answer after %v: %v", time.Since(start).Round(time.Millisecond), err)
			}
			if elapsed := time.Since(start); elapsed > promptly {
				t.Errorf("answered after %v; want at once", elapsed.Round(time.Millisecond))
			}
			want := "HTTP/1.1 " + strconv.Itoa(tc.status) + " "
			if !strings.HasPrefix(line, want) {
				t.Fatalf("status line %q; want %q...", line, want)
			}
		})
	}
}
