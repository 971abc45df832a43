package hostile

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
	"github.com/hotpath-dev/hotpath/internal/policy"
)

// headerLimit is serve's default --max-header-bytes.
const headerLimit = 16 << 10

// amplCase is one request whose head is large in one way.
type amplCase struct {
	name string
	head string
	// want are the right statuses.
	want []int
}

// repeatLines returns n header lines made by line(i).
func repeatLines(n int, line func(i int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(line(i))
		b.WriteString("\r\n")
	}
	return b.String()
}

// amplCases are heads near and well over the default header limit (over
// by far more than net/http's 4 KiB of slack): under it they are served,
// over it refused with 431 (or 414 for the request-target), never a 5xx.
func amplCases() []amplCase {
	get := func(target, headers string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n"
	}
	over := []int{431}
	return []amplCase{
		{name: "300 small headers under the limit", want: []int{200},
			head: get("/time", repeatLines(300, func(i int) string { return fmt.Sprintf("X-H-%03d: v", i) }))},
		{name: "3,000 small headers over the limit", want: over,
			head: get("/time", repeatLines(3000, func(i int) string { return fmt.Sprintf("X-H-%04d: v", i) }))},
		{name: "8,000 one-letter headers", want: over,
			head: get("/time", repeatLines(8000, func(int) string { return "a: b" }))},
		{name: "one header repeated 4,000 times", want: over,
			head: get("/time", repeatLines(4000, func(int) string { return "X-Same: same" }))},
		{name: "8 KiB cookie", want: []int{200},
			head: get("/time", "Cookie: c="+strings.Repeat("k", 8<<10)+"\r\n")},
		{name: "40 KiB cookie", want: over,
			head: get("/time", "Cookie: c="+strings.Repeat("k", 40<<10)+"\r\n")},
		{name: "500 cookie headers of 100 bytes", want: over,
			head: get("/time", repeatLines(500, func(i int) string { return fmt.Sprintf("Cookie: c%d=%s", i, strings.Repeat("k", 90)) }))},
		{name: "20 KiB header name", want: []int{400, 431},
			head: get("/time", "X-"+strings.Repeat("n", 20<<10)+": v\r\n")},
		{name: "12 KiB request-target", want: []int{200},
			head: get("/time?q="+strings.Repeat("q", 12<<10), "")},
		{name: "40 KiB request-target", want: []int{414, 431},
			head: get("/time?q="+strings.Repeat("q", 40<<10), "")},
	}
}

// TestGapHeaderAmplification: heads built to cost the server memory or
// CPU (thousands of small headers, huge cookies, a huge name, a huge
// request-target) get 200 under the limit and 431/414 over it on every
// engine, never a 5xx or a crash, and serve answers afterwards.
func TestGapHeaderAmplification(t *testing.T) {
	for _, e := range append(append([]gapEngine{}, http1Engines...), tlsEngines[0]) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t)
			for _, tc := range amplCases() {
				t.Run(tc.name, func(t *testing.T) {
					c := dialRaw(t, p.addr, e.tls)
					// Written by a goroutine: the server may answer, and
					// stop reading, before the head ends.
					done := make(chan struct{})
					go func() {
						defer close(done)
						_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
						_, _ = c.Write([]byte(tc.head))
					}()
					line, err := statusLine(c, bufio.NewReader(c), 10*time.Second)
					c.Close()
					<-done
					if err != nil {
						t.Fatalf("%d-byte head: no status line: %v", len(tc.head), err)
					}
					st := statusOf(line)
					ok := false
					for _, w := range tc.want {
						ok = ok || st == w
					}
					if !ok {
						t.Errorf("%d-byte head: %q; want one of %v", len(tc.head), line, tc.want)
					}
				})
			}
			p.alive(t)
			p.noPanic(t)
			hc, base := client(t, p, e.tls)
			if err := getOK(hc, base+"/time"); err != nil {
				t.Errorf("after the heads: %v", err)
			}
		})
	}
}

// idCase is one hostile X-Request-Id, written raw into the head.
type idCase struct {
	name string
	raw  string // the header line's value bytes, as sent
	// kept: a valid ID, which must come back as it is (the control).
	kept bool
}

// idCases are request IDs that must never come back raw: controls, spaces,
// obs-text, too long, and CR/LF trying to add response headers.
func idCases() []idCase {
	return []idCase{
		{name: "valid ID is echoed", raw: "req-123_abc.XYZ", kept: true},
		{name: "control byte", raw: "abc\x01def"},
		{name: "DEL", raw: "abc\x7fdef"},
		{name: "spaces", raw: "a b c"},
		{name: "tab", raw: "a\tb"},
		{name: "obs-text", raw: "abc\x80\xffdef"},
		{name: "129 bytes", raw: strings.Repeat("i", policy.MaxRequestIDLen+1)},
		{name: "bare CR then a header", raw: "abc\rSet-Cookie: evil=1"},
		{name: "bare LF then a header", raw: "abc\nSet-Cookie: evil=1"},
		{name: "CRLF then a header", raw: "abc\r\nSet-Cookie: evil=1"},
		{name: "CRLF CRLF then a body", raw: "abc\r\n\r\nevil"},
	}
}

// TestGapRequestIDInjection: a hostile X-Request-Id never comes back raw:
// the response's X-Request-Id is the valid ID sent or a fresh valid one,
// the response has no header the attacker wrote (Set-Cookie: evil), and
// nothing answers 5xx. A malformed head (bare CR or LF) may be refused
// with 400 instead. Every engine, HTTP/1.1 (and TLS), on a route of the
// HTTP chain and on the JSON gateway where the port has one.
func TestGapRequestIDInjection(t *testing.T) {
	for _, e := range append(append([]gapEngine{}, http1Engines...), tlsEngines[0]) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t)
			for _, path := range []string{"/time", "/v1/time"} {
				for _, tc := range idCases() {
					t.Run(path+" "+tc.name, func(t *testing.T) {
						checkIDResponse(t, p, e.tls, path, tc)
					})
				}
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}

// checkIDResponse sends GET path with tc's X-Request-Id and checks the
// head of the answer.
func checkIDResponse(t *testing.T, p *proc, useTLS bool, path string, tc idCase) {
	c := dialRaw(t, p.addr, useTLS)
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + tc.raw + "\r\nConnection: close\r\n\r\n"
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	got, err := waitClosedTLS(c, 5*time.Second)
	if err != nil && len(got) == 0 {
		t.Fatalf("no answer: %v", err)
	}
	head, _, _ := bytes.Cut(got, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	st := statusOf(lines[0])
	if st == 0 || st >= 500 {
		t.Fatalf("answered %q; want no 5xx", clip(got))
	}
	if bytes.Contains(bytes.ToLower(head), []byte("evil")) {
		t.Fatalf("the attacker's bytes are in the response head:\n%s", clip(head))
	}
	var ids []string
	for _, l := range lines[1:] {
		if name, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(name, "X-Request-Id") {
			ids = append(ids, strings.TrimSpace(v))
		}
		for _, b := range []byte(l) {
			if b < 0x20 && b != '\t' || b == 0x7f {
				t.Errorf("control byte %#x in response header line %q", b, l)
			}
		}
	}
	t.Logf("%d, X-Request-Id %q", st, ids)
	if st == 400 && !tc.kept {
		return // a refused head needs no ID
	}
	if len(ids) != 1 {
		t.Fatalf("%d: %d X-Request-Id headers %q; want one", st, len(ids), ids)
	}
	switch {
	case tc.kept && ids[0] != tc.raw:
		t.Errorf("valid ID %q came back as %q", tc.raw, ids[0])
	case !tc.kept && ids[0] == tc.raw:
		t.Errorf("invalid ID %q came back as it was", tc.raw)
	case !policy.ValidRequestID(ids[0]):
		t.Errorf("X-Request-Id %q is not a valid ID", ids[0])
	}
}

// TestGapRequestIDInjectionH2: over HTTP/2 a header value may carry any
// byte (HPACK has no line syntax), so CR, LF and NUL reach the server as
// data. On the default port (h2c, both sides of portmux) and on fasthttp's
// gRPC side, such an x-request-id is refused or replaced: it never comes
// back raw in response headers or trailers.
func TestGapRequestIDInjectionH2(t *testing.T) {
	const valid = "req-h2-ok" // the control: kept, so the check sees headers
	ids := []string{valid, "abc\r\nset-cookie: evil=1", "abc\x00def", "a b", "abc\x80"}
	for _, e := range []gapEngine{http1Engines[0], http1Engines[1]} {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t)
			sides := []string{"grpc"}
			if e.name == "nethttp" {
				sides = append(sides, "http")
			}
			for _, side := range sides {
				for _, v := range ids {
					t.Run(fmt.Sprintf("%s %q", side, v), func(t *testing.T) {
						r := h2raw.Dial(t, p.addr, h2raw.Options{Frames: 64})
						var id uint32
						if side == "grpc" {
							warm(t, r)
							id = r.OpenGRPC(echoUnary, hpack.HeaderField{Name: "x-request-id", Value: v})
							r.SendGRPC(id, 0, nil, true)
						} else {
							id = 1
							if err := r.WriteHeaders(id, true,
								hpack.HeaderField{Name: ":method", Value: "GET"}, hpack.HeaderField{Name: ":scheme", Value: "http"},
								hpack.HeaderField{Name: ":path", Value: "/time"}, hpack.HeaderField{Name: ":authority", Value: "x"},
								hpack.HeaderField{Name: "x-request-id", Value: v}); err != nil {
								t.Fatal(err)
							}
						}
						checkH2IDs(t, r, id, v, v == valid)
					})
				}
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}

// checkH2IDs reads r's frames until stream id ends (or the connection
// does) and checks every x-request-id the server sent on it: the ID sent
// when kept (which must come back), else a fresh valid one.
func checkH2IDs(t *testing.T, r *h2raw.Conn, id uint32, sent string, kept bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var echoed []string
	defer func() {
		t.Logf("x-request-id %q came back as %q", sent, echoed)
		if kept && (len(echoed) != 1 || echoed[0] != sent) {
			t.Errorf("valid x-request-id %q came back as %q; want it once", sent, echoed)
		}
	}()
	for {
		f, err := r.Next(time.Until(deadline))
		if err != nil {
			if isTimeout(err) {
				t.Fatalf("stream %d: no ending within 5 s", id)
			}
			return // connection closed: nothing echoed
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			if st := f.PseudoValue("status"); len(st) == 3 && st[0] == '5' {
				t.Errorf("stream %d answered %s; want no 5xx", id, st)
			}
			for _, hf := range f.Fields {
				if strings.Contains(strings.ToLower(hf.Value), "evil") || hf.Name == "set-cookie" {
					t.Errorf("the attacker's bytes came back: %q: %q", hf.Name, hf.Value)
				}
				if hf.Name != "x-request-id" {
					continue
				}
				echoed = append(echoed, hf.Value)
				if !kept && (hf.Value == sent || !policy.ValidRequestID(hf.Value)) {
					t.Errorf("x-request-id %q came back for %q; want a fresh valid ID", hf.Value, sent)
				}
			}
			if f.StreamEnded() {
				return
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return
			}
		case *http2.DataFrame:
			if f.StreamID == id && f.StreamEnded() {
				return
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}
