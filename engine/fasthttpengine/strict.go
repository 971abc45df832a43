package fasthttpengine

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Bodies of the strict-parsing refusals, net/http's status lines as text.
const (
	bodyBadRequest     = "400 Bad Request"
	bodyNotImplemented = "501 Not Implemented"
	bodyBadVersion     = "505 HTTP Version Not Supported"
)

// requestFault returns the status a request fasthttp has parsed must be
// refused with, or 0 to serve it. fasthttp v1.78.0 accepts, and frames,
// requests that RFC 9112 says to reject and that a front proxy may frame
// differently (request smuggling): an HTTP version other than 1.0 and 1.1
// (505), Transfer-Encoding other than chunked (fasthttp ignores "identity"
// and frames by Content-Length instead: 501), and header blocks that
// headerBlockFault refuses (400). The refusal closes the connection, so
// nothing after the request on it is served. fasthttp has no option for
// any of these, so the raw header block it keeps (RawHeaders) is checked
// here, before routing. A request whose header fasthttp did not parse (a
// RequestCtx built in a test) has no raw block and is only checked for its
// version. It does not allocate.
func requestFault(h *fasthttp.RequestHeader) int {
	if !h.IsHTTP11() && string(h.Protocol()) != "HTTP/1.0" {
		return fasthttp.StatusHTTPVersionNotSupported
	}
	return headerBlockFault(h.RawHeaders())
}

// headerBlockFault checks a raw header block (the field lines after the
// request line, through the blank line that ends them, as received) for
// what fasthttp lets through and RFC 9112 forbids, and returns 400 for the
// first malformed line, else 501 for an unsupported Transfer-Encoding, or 0:
//   - a line ending in a bare LF (§2.2: hotpath, like a strict proxy,
//     takes only CRLF as a line end);
//   - a line starting with SP or HTAB, obs-fold (§5.2: reject with 400);
//   - a field name that is not a token, such as one with a space in it or
//     before its colon (§5.1, RFC 9110 §5.1);
//   - a Transfer-Encoding other than exactly "chunked" (501, §6.1; net/http
//     does the same).
//
// Written here, not taken from a library: it is a few lines over the bytes
// fasthttp already holds, and must not allocate on the hot path.
func headerBlockFault(raw []byte) int {
	if len(raw) == 0 {
		return 0 // no field lines (fasthttp keeps no raw block then)
	}
	fault := 0 // a 501 waits for the end of the block: a 400 there wins
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i <= 0 || raw[i-1] != '\r' {
			return fasthttp.StatusBadRequest // bare LF, or no line end at all
		}
		line := raw[:i-1]
		raw = raw[i+1:]
		if len(line) == 0 {
			if len(raw) != 0 {
				return fasthttp.StatusBadRequest // bytes after the blank line
			}
			return fault
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fasthttp.StatusBadRequest // obs-fold
		}
		colon := 0
		for colon < len(line) && isTokenByte[line[colon]] {
			colon++
		}
		if colon == 0 || colon == len(line) || line[colon] != ':' {
			return fasthttp.StatusBadRequest
		}
		if colon == len(hdrTransferEncoding) && bytes.EqualFold(line[:colon], hdrTransferEncoding) &&
			!bytes.EqualFold(bytes.Trim(line[colon+1:], ows), valChunked) {
			fault = fasthttp.StatusNotImplemented
		}
	}
	return fasthttp.StatusBadRequest // no blank line ends the block
}

var (
	hdrTransferEncoding = []byte("Transfer-Encoding")
	valChunked          = []byte("chunked")
)

// isTokenByte holds RFC 9110's tchar: the bytes a field name is made of.
var isTokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// refuse answers a request requestFault refused, like net/http answers a
// malformed request (before any middleware: no request ID, no metrics),
// and closes the connection after the response.
func refuse(ctx *fasthttp.RequestCtx, code int) {
	body := bodyBadRequest
	switch code {
	case fasthttp.StatusNotImplemented:
		body = bodyNotImplemented
	case fasthttp.StatusHTTPVersionNotSupported:
		body = bodyBadVersion
	}
	plainError(ctx, code, body)
	ctx.SetConnectionClose()
}

// ows is HTTP's optional white space (RFC 9110, 5.6.3), the cutset of
// bytes.Trim around field values.
const ows = " \t"
