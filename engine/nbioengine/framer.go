package nbioengine

import (
	"bytes"
	"net/http"
	"sync"
	"unsafe"

	"golang.org/x/net/http/httpguts"
)

// Why this engine reads every byte a client sends before nbio's parser does.
//
// nbio's HTTP/1.1 parser (v1.6.8) is lax where it matters: it takes
// "Content-Length: +5", a space before a header's colon, NUL in a value,
// "get" for GET, a fourth request-line token; it accepts HTTP/1.1 without
// Host or with two; it waits forever on bare LF line endings and on
// "HTTP/2.0"; it buffers a declared body whole before anything runs (no 413
// before the body, so 100 clients declaring 2 MB held 419 MB), and it has no
// read-header or read timeout. Each of these was answered 200, hung or held
// memory in a hostile-client run (2026-12-07). nbio cannot be told to be
// strict, so the engine puts a framer in front of it: a small incremental
// HTTP/1.1 request reader per connection (written here because the standard
// library's reader is blocking and goroutine-per-connection, which is what
// nbio exists to avoid). It validates each request head strictly (the rules
// below follow net/http and RFC 9112) and follows the body framing, and
// hands nbio only requests it accepted, with a body no larger than the
// limit. A request it refuses is answered here (400, 413, 431, 501, 505,
// 417) after the responses before it, and the connection is closed; nbio
// never sees it or anything after it.

// Phases of a connection, as the framer sees the bytes.
const (
	phaseHead = iota // in (or waiting for) a request head
	phaseBody        // in a request body
	phaseDead        // refused, or cut after a 413: every further byte is dropped
)

// Body framings.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
)

// Chunked body sub-states.
const (
	chunkSize    = iota // in a chunk-size line
	chunkData           // in chunk data
	chunkCRLF           // after chunk data, expecting CRLF
	chunkTrailer        // in the trailer section
)

// actions the framer asks of its caller, in order.
const (
	actPass     = iota // hand b to nbio's parser
	actContinue        // send 100 Continue (the request's head was passed)
	actTooLarge        // request seq, passed next, has a body over the limit: 413, then close
	actLength          // request seq, passed next, declared its length; nbio gets its body chunked
	actReject          // answer status and close; nothing more is passed
)

type action struct {
	kind     int
	b        []byte
	status   int
	declared int64  // actTooLarge, actLength: the declared length, or -1 (chunked)
	seq      uint64 // actTooLarge, actLength: the request, counted from 1 on the connection
}

// framer follows one connection's requests. It is not safe for concurrent
// use; nbio calls it from the connection's poller goroutine only.
type framer struct {
	maxBody int64  // body bytes allowed (413 beyond); <= 0: no limit
	remain  int64  // bytes left: of the body (bodyLength) or of the chunk (chunkData)
	total   int64  // chunked: body bytes so far
	heads   uint64 // request heads passed to nbio

	head []byte // the head so far, when it spans reads
	line []byte // a chunk-size or trailer line that spans reads

	// What feed returns, borrowed from feedPool until release (an idle
	// connection holds none).
	bufs *feedBufs
	data []byte // the bytes being fed
	from int    // start of the pending pass range in data

	maxHead int32 // bytes of request line and headers allowed (431 beyond)
	trailer int32 // trailer bytes so far
	phase   int8
	body    int8 // framing of the current body
	chunk   int8 // chunked sub-state
	started bool // a request began during the last feed
	rechunk bool // bodyLength: passed to nbio as chunks
}

// Bounds of the pieces of a chunked body the framer buffers.
const maxChunkLine = 4 << 10

// feedBufs are the buffers of one feed: its actions, and the bytes it
// synthesized (slices of scratch stay valid while it grows: a regrown
// array is a new one).
type feedBufs struct {
	acts    []action
	scratch []byte
}

var feedPool = sync.Pool{New: func() any { return new(feedBufs) }}

// release returns the buffers of the last feed; its actions are invalid
// from then on.
func (f *framer) release() {
	if b := f.bufs; b != nil {
		clear(b.acts) // no slices of client data kept in the pool
		b.acts, b.scratch = b.acts[:0], b.scratch[:0]
		f.bufs = nil
		feedPool.Put(b)
	}
}

// keepSmall empties b, dropping its array when it grew large, so that an
// idle connection does not hold a big head's buffer.
func keepSmall(b []byte) []byte {
	if cap(b) > 1<<10 {
		return nil
	}
	return b[:0]
}

func newFramer(maxHead int, maxBody int64) *framer {
	return &framer{maxHead: clampHead(maxHead), maxBody: maxBody}
}

// clampHead fits a header limit in the framer's field (2 GiB is no limit
// in practice).
func clampHead(n int) int32 { return int32(min(n, 1<<31-1)) }

// feed consumes bytes read from the client and returns what to do with
// them, in order. The returned actions and the slices in them are valid
// until the next feed.
func (f *framer) feed(data []byte) []action {
	if f.bufs == nil {
		f.bufs = feedPool.Get().(*feedBufs)
	}
	f.bufs.acts, f.bufs.scratch = f.bufs.acts[:0], f.bufs.scratch[:0]
	f.started = false
	if f.phase == phaseDead {
		return nil
	}
	f.data, f.from = data, 0
	i := 0
	for i < len(data) && f.phase != phaseDead {
		switch f.phase {
		case phaseHead:
			i = f.scanHead(i)
		case phaseBody:
			if f.body == bodyLength && !f.rechunk {
				n := int(min(int64(len(data)-i), f.remain))
				i += n
				f.remain -= n64(n)
				if f.remain == 0 {
					f.phase = phaseHead
				}
			} else if f.body == bodyLength {
				// nbio gets the body as chunks, one per read: it then
				// stores each as it comes instead of gathering the whole
				// body in one growing buffer first (copied at every
				// growth) and copying it again.
				n := int(min(int64(len(data)-i), f.remain))
				f.flush(i)
				f.pass(f.chunkHeader(int64(n)))
				f.pass(data[i : i+n])
				i += n
				f.from = i
				f.remain -= n64(n)
				if f.remain == 0 {
					f.pass(endChunks)
					f.phase = phaseHead
				} else {
					f.pass(crlf)
				}
			} else {
				i = f.scanChunked(i)
			}
		}
	}
	if f.phase != phaseDead {
		f.flush(len(data))
	}
	f.data = nil
	return f.bufs.acts
}

// idle reports whether the connection is between requests: no part of a
// request has arrived since the last one ended.
func (f *framer) idle() bool { return f.phase == phaseHead && len(f.head) == 0 }

func n64(n int) int64 { return int64(n) }

// flush passes the pending range of data up to end.
func (f *framer) flush(end int) {
	if end > f.from {
		f.bufs.acts = append(f.bufs.acts, action{kind: actPass, b: f.data[f.from:end]})
	}
	f.from = end
}

func (f *framer) pass(b []byte) { f.bufs.acts = append(f.bufs.acts, action{kind: actPass, b: b}) }

// reject passes what is pending up to upTo (the requests before the
// refused one), then asks for the refusal; nothing more is passed.
func (f *framer) reject(status, upTo int) {
	f.flush(upTo)
	f.bufs.acts = append(f.bufs.acts, action{kind: actReject, status: status})
	f.phase = phaseDead
}

// scanHead looks for the end of a request head from data[i:]; it returns
// where scanning stopped.
func (f *framer) scanHead(i int) int {
	data := f.data
	if len(f.head) == 0 {
		f.started = true
		end := bytes.Index(data[i:], crlfcrlf)
		if end >= 0 && end+4 <= int(f.maxHead) {
			// The whole head is in this read: validate it in place.
			return f.headDone(data[i:i+end+4], i, i+end+4, true)
		}
		// It spans reads (or is too long): keep it, pass what came before.
		f.flush(i)
		n := len(data) - i
		// Line ends first, in both branches and over the same bytes (at
		// most a head's worth), so that where reads end does not change
		// the answer.
		if badLineEnd(data[i:i+min(n, int(f.maxHead)+4)], 0) {
			f.reject(http.StatusBadRequest, i) // bare LF: no CRLFCRLF will ever come
			return len(data)
		}
		if n > int(f.maxHead) {
			f.reject(http.StatusRequestHeaderFieldsTooLarge, i)
			return len(data)
		}
		f.head = append(f.head[:0], data[i:]...)
		f.from = len(data)
		return len(data)
	}
	// Continue a kept head (with at most a head's worth of data: the rest
	// is body or too much). The terminator may straddle the boundary.
	old := len(f.head)
	f.head = append(f.head, data[i:i+min(len(data)-i, int(f.maxHead)+4-old)]...)
	from := max(0, old-3)
	end := bytes.Index(f.head[from:], crlfcrlf)
	if end < 0 {
		if badLineEnd(f.head, max(0, old-1)) { // the new bytes, and the CR that may have waited for them
			f.head = f.head[:0]
			f.reject(http.StatusBadRequest, i)
			return len(data)
		}
		if len(f.head) > int(f.maxHead) {
			f.head = f.head[:0]
			f.reject(http.StatusRequestHeaderFieldsTooLarge, i)
			return len(data)
		}
		f.from = len(data)
		return len(data)
	}
	hlen := from + end + 4
	if hlen > int(f.maxHead) {
		f.head = f.head[:0]
		f.reject(http.StatusRequestHeaderFieldsTooLarge, i)
		return len(data)
	}
	used := hlen - old // bytes of data that belong to the head
	next := f.headDone(f.head[:hlen], i, i+used, false)
	f.head = keepSmall(f.head)
	return next
}

var crlfcrlf = []byte("\r\n\r\n")

// badLineEnd reports whether b[from:] has a LF not preceded by CR, or a CR
// not followed by LF (except a CR at the very end, whose LF may still
// come); b[:from] was checked before.
func badLineEnd(b []byte, from int) bool {
	for j := from; j < len(b); j++ {
		switch c := b[j]; c {
		case '\n':
			if j == 0 || b[j-1] != '\r' {
				return true
			}
		case '\r':
			if j+1 < len(b) && b[j+1] != '\n' {
				return true
			}
		}
	}
	return false
}

// headDone validates a complete head h and decides what nbio gets. h is
// data[start:end] when inPlace, else the kept copy (whose bytes in data end
// at end). It returns where scanning goes on.
func (f *framer) headDone(h []byte, start, end int, inPlace bool) int {
	hd, status := parseHead(h)
	if status != 0 {
		if inPlace {
			f.reject(status, start)
		} else {
			f.reject(status, f.from)
		}
		return len(f.data)
	}
	tooLarge := false
	declared := int64(-1)
	switch {
	case hd.chunked:
		f.body, f.chunk, f.total, f.trailer = bodyChunked, chunkSize, 0, 0
		f.line = f.line[:0]
	case hd.length > 0:
		declared = hd.length
		if f.maxBody > 0 && hd.length > f.maxBody {
			tooLarge = true
		}
		f.body, f.remain = bodyLength, hd.length
	default:
		f.body = bodyNone
	}
	// What nbio gets of the head: all of it, but a Trailer field (nbio
	// would then insist on exactly those trailers; they are dropped) and
	// the framing fields of a body with a length: when the body is
	// refused (nbio then sees a request without a body, and the handler is
	// told its declared size), or else replaced by Transfer-Encoding:
	// chunked (the body is passed as chunks; the handler is told its
	// declared length, and sees no Transfer-Encoding).
	f.heads++
	var dropBuf [maxFramingLines][2]int
	drops := dropBuf[:0]
	var insert []byte
	// HTTP/1.0 bodies keep their length (a chunked HTTP/1.0 request is
	// not a thing: net/http ignores the coding there, see parseHead).
	chunk := hd.length > 0 && (tooLarge || hd.http11)
	for _, l := range hd.lines[:hd.nlines] {
		if l.trailer || chunk {
			drops = append(drops, l.at)
		}
	}
	f.rechunk = chunk && !tooLarge
	if f.rechunk {
		insert = teChunked
	}
	if inPlace && len(drops) == 0 {
		// The common case: the head passes as it came, in one range.
	} else {
		if inPlace {
			f.flush(start)
		}
		// Before the head: the caller records it before nbio can run the
		// request.
		if tooLarge {
			f.bufs.acts = append(f.bufs.acts, action{kind: actTooLarge, declared: declared, seq: f.heads})
		} else if insert != nil {
			f.bufs.acts = append(f.bufs.acts, action{kind: actLength, declared: declared, seq: f.heads})
		}
		if !inPlace {
			// f.head is reused by the next request, maybe in this feed.
			h = bytes.Clone(h)
		}
		f.passHead(h, drops, insert)
		f.from = end
	}
	switch {
	case tooLarge:
		f.phase = phaseDead
		return len(f.data)
	case hd.expectContinue && f.body != bodyNone:
		f.flush(end)
		f.bufs.acts = append(f.bufs.acts, action{kind: actContinue})
	}
	if f.body == bodyNone {
		f.phase = phaseHead
	} else {
		f.phase = phaseBody
	}
	return end
}

// passHead passes h without the byte ranges in drops (whole lines, in
// order, disjoint) and with the line insert, if any, last.
func (f *framer) passHead(h []byte, drops [][2]int, insert []byte) {
	at := 0
	for _, d := range drops {
		if d[0] > at {
			f.pass(h[at:d[0]])
		}
		at = d[1]
	}
	if insert != nil {
		f.pass(h[at : len(h)-2])
		f.pass(insert)
		f.pass(crlf)
		return
	}
	f.pass(h[at:])
}

var (
	teChunked = []byte("Transfer-Encoding: chunked\r\n")
	endChunks = []byte("\r\n0\r\n\r\n") // the last chunk's CRLF, then the last chunk
)

// scanChunked follows a chunked body from data[i:].
func (f *framer) scanChunked(i int) int {
	data := f.data
	switch f.chunk {
	case chunkData:
		n := int(min(int64(len(data)-i), f.remain))
		f.remain -= n64(n)
		i += n
		if f.remain == 0 {
			f.chunk = chunkCRLF
			f.line = f.line[:0]
		}
		return i
	case chunkCRLF:
		// Checked before nbio gets it, so a wrong byte is never passed.
		f.flush(i)
		for i < len(data) && len(f.line) < 2 {
			f.line = append(f.line, data[i])
			i++
		}
		f.from = i
		if len(f.line) == 2 {
			if f.line[0] != '\r' || f.line[1] != '\n' {
				f.reject(http.StatusBadRequest, f.from)
				return len(data)
			}
			f.pass(crlf)
			f.chunk = chunkSize
			f.line = f.line[:0]
		}
		return i
	}
	// A chunk-size or trailer line: collect it up to its LF. Its bytes are
	// never passed as they came; what nbio gets is rebuilt below.
	f.flush(i)
	lf := bytes.IndexByte(data[i:], '\n')
	if lf < 0 {
		f.line = append(f.line, data[i:]...)
		f.from = len(data)
		if len(f.line) > maxChunkLine || bytes.IndexByte(f.line, '\r') >= 0 && f.line[len(f.line)-1] != '\r' {
			f.reject(http.StatusBadRequest, f.from)
		}
		return len(data)
	}
	next := i + lf + 1
	line := data[i:next]
	if len(f.line) > 0 {
		f.line = append(f.line, line...)
		line = f.line
	}
	f.from = next
	if len(line) > maxChunkLine || len(line) < 2 || line[len(line)-2] != '\r' || bytes.IndexByte(line[:len(line)-2], '\r') >= 0 {
		f.reject(http.StatusBadRequest, f.from)
		return len(data)
	}
	line = line[:len(line)-2]
	if f.chunk == chunkTrailer {
		return f.trailerLine(line, next)
	}
	size, ok := parseChunkSize(line)
	if !ok {
		f.reject(http.StatusBadRequest, f.from)
		return len(data)
	}
	f.line = f.line[:0]
	if size == 0 {
		f.chunk = chunkTrailer
		f.trailer = 0
		return next
	}
	if f.maxBody > 0 && size > f.maxBody-f.total {
		// Over the limit: end the body here for nbio, which then runs the
		// request (its handler reads a body that fails as too large).
		f.bufs.acts = append(f.bufs.acts, action{kind: actTooLarge, declared: -1, seq: f.heads})
		f.pass(lastChunk)
		f.phase = phaseDead
		return len(data)
	}
	f.total += size
	f.remain = size
	f.chunk = chunkData
	f.pass(f.chunkHeader(size))
	return next
}

var lastChunk = []byte("0\r\n\r\n")

// chunkHeader is the size line nbio gets for a chunk: hex size and CRLF,
// without extensions. It is kept in the feed's scratch, valid until release.
func (f *framer) chunkHeader(size int64) []byte {
	const hexdigits = "0123456789abcdef"
	var b [18]byte
	i := len(b)
	b[i-1], b[i-2] = '\n', '\r'
	i -= 2
	for {
		i--
		b[i] = hexdigits[size&15]
		size >>= 4
		if size == 0 {
			break
		}
	}
	sc := &f.bufs.scratch
	at := len(*sc)
	*sc = append(*sc, b[i:]...)
	return (*sc)[at:len(*sc):len(*sc)]
}

// trailerLine handles one line of the trailer section (CRLF removed).
// Trailer fields are checked like header fields and dropped; the empty line
// ends the body, which nbio then gets as a last chunk without trailers.
func (f *framer) trailerLine(line []byte, next int) int {
	f.line = keepSmall(f.line)
	if len(line) == 0 {
		f.pass(lastChunk)
		f.phase = phaseHead
		return next
	}
	f.trailer += int32(min(len(line)+2, maxChunkLine))
	if f.trailer > f.maxHead {
		f.reject(http.StatusRequestHeaderFieldsTooLarge, f.from)
		return len(f.data)
	}
	if _, _, ok := splitField(line); !ok {
		f.reject(http.StatusBadRequest, f.from)
		return len(f.data)
	}
	return next
}

// parseChunkSize parses "1*HEXDIG [ chunk-ext ]" (RFC 9112 §7.1) strictly:
// at most 15 hex digits, extensions of tokens and quoted strings only.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		v, ok := hexVal(line[i])
		if !ok {
			break
		}
		if i == 15 {
			return 0, false
		}
		n = n<<4 | int64(v)
	}
	if i == 0 {
		return 0, false
	}
	rest := line[i:]
	for len(rest) > 0 {
		rest = bytes.Trim(rest, ows)
		if len(rest) == 0 {
			return n, true
		}
		if rest[0] != ';' {
			return 0, false
		}
		rest = bytes.Trim(rest[1:], ows)
		j := 0
		for j < len(rest) && isTokenByte(rest[j]) {
			j++
		}
		if j == 0 {
			return 0, false
		}
		rest = bytes.Trim(rest[j:], ows)
		if len(rest) > 0 && rest[0] == '=' {
			rest = bytes.Trim(rest[1:], ows)
			if len(rest) > 0 && rest[0] == '"' {
				j = 1
				for j < len(rest) && rest[j] != '"' {
					if rest[j] == '\\' {
						j++
					}
					if j < len(rest) && !isFieldByte(rest[j]) {
						return 0, false
					}
					j++
				}
				if j >= len(rest) {
					return 0, false
				}
				rest = rest[j+1:]
			} else {
				j = 0
				for j < len(rest) && isTokenByte(rest[j]) {
					j++
				}
				if j == 0 {
					return 0, false
				}
				rest = rest[j:]
			}
		}
	}
	return n, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// head is what the framer needs from a valid request head.
type head struct {
	length         int64 // declared Content-Length, -1 if none
	chunked        bool
	expectContinue bool
	// Byte ranges of h (whole lines, CRLF included) that may be dropped.
	lines  [maxFramingLines]framingLine // in order
	nlines int
	http11 bool // HTTP/1.1 or later
}

// framingLine is a Content-Length, Transfer-Encoding or Trailer line of h:
// its byte range, CRLF included.
type framingLine struct {
	at      [2]int
	trailer bool
}

// maxFramingLines bounds the framing lines of one head (more is 400): a
// fixed array keeps parsing free of allocations.
const maxFramingLines = 4

// methods nbio's parser accepts; another token is 501 here (nbio would
// close the connection without an answer), as is a method in lower case
// (nbio would take "get" for GET).
var methods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"OPTIONS": true, "PATCH": true, "TRACE": true,
}

// parseHead validates a complete request head h (ending in CRLFCRLF). It
// returns 0 and what it found, or the status to refuse it with.
func parseHead(h []byte) (head, int) {
	hd := head{length: -1}
	if badLineEnd(h, 0) {
		return hd, http.StatusBadRequest
	}
	eol := bytes.Index(h, crlf)
	line := h[:eol]
	// Request line: method SP request-target SP HTTP-version, nothing else.
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return hd, http.StatusBadRequest
	}
	method := line[:sp1]
	for _, c := range method {
		if !isTokenByte(c) {
			return hd, http.StatusBadRequest
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return hd, http.StatusBadRequest
	}
	target, version := rest[:sp2], rest[sp2+1:]
	if !validTarget(target) {
		return hd, http.StatusBadRequest
	}
	major, minor, ok := parseVersion(version)
	if !ok {
		return hd, http.StatusBadRequest
	}
	if major != 1 {
		return hd, http.StatusHTTPVersionNotSupported
	}
	if !methods[unsafeString(method)] {
		return hd, http.StatusNotImplemented
	}
	if target[0] == '*' && string(method) != http.MethodOptions {
		return hd, http.StatusBadRequest
	}
	hosts := 0
	var length []byte
	te := 0
	// A malformed line anywhere is 400, whatever else is wrong: semantic
	// refusals (501, 417) wait until every line was read.
	semantic := 0
	refuse := func(status int) {
		if semantic == 0 {
			semantic = status
		}
	}
	at := eol + 2
	for at < len(h)-2 {
		end := at + bytes.Index(h[at:], crlf)
		field := h[at:end]
		name, value, ok := splitField(field)
		if !ok {
			return hd, http.StatusBadRequest
		}
		lineRange := [2]int{at, end + 2}
		switch {
		case equalFold(name, "Host"):
			hosts++
			if hosts > 1 || !httpguts.ValidHostHeader(unsafeString(value)) {
				return hd, http.StatusBadRequest
			}
		case equalFold(name, "Content-Length"):
			if len(value) == 0 || len(value) > 18 {
				return hd, http.StatusBadRequest
			}
			for _, c := range value {
				if c < '0' || c > '9' {
					return hd, http.StatusBadRequest
				}
			}
			if length != nil && !bytes.Equal(length, value) {
				return hd, http.StatusBadRequest
			}
			length = value
			if !hd.addLine(lineRange, false) {
				return hd, http.StatusBadRequest
			}
		case equalFold(name, "Transfer-Encoding"):
			te++
			if te > 1 || minor == 0 {
				// RFC 9112 §6.1: HTTP/1.0 with a transfer coding has
				// faulty framing (net/http ignores the coding there).
				return hd, http.StatusBadRequest
			}
			if !equalFold(value, "chunked") {
				refuse(http.StatusNotImplemented)
			}
			hd.chunked = true
			if !hd.addLine(lineRange, false) {
				return hd, http.StatusBadRequest
			}
		case equalFold(name, "Expect"):
			if !equalFold(value, "100-continue") {
				refuse(http.StatusExpectationFailed)
			}
			hd.expectContinue = major == 1 && minor >= 1
		case equalFold(name, "Trailer"):
			if !hd.addLine(lineRange, true) {
				return hd, http.StatusBadRequest
			}
		}
		at = end + 2
	}
	hd.http11 = minor >= 1
	if hosts == 0 && minor >= 1 {
		return hd, http.StatusBadRequest
	}
	if semantic != 0 {
		return hd, semantic
	}
	if length != nil {
		if hd.chunked {
			return hd, http.StatusBadRequest // RFC 9112 §6.1: a smuggling vector
		}
		var n int64
		for _, c := range length {
			n = n*10 + int64(c-'0')
		}
		hd.length = n
	}
	return hd, 0
}

var crlf = []byte("\r\n")

// addLine records a framing line; false when there are too many.
func (hd *head) addLine(at [2]int, trailer bool) bool {
	if hd.nlines == maxFramingLines {
		return false
	}
	hd.lines[hd.nlines] = framingLine{at: at, trailer: trailer}
	hd.nlines++
	return true
}

// splitField splits "name: value" (CRLF removed): the name is a token right
// before the colon, the value is trimmed of spaces and tabs and holds no
// control characters but tab. An obs-folded line (leading space) is
// invalid.
func splitField(field []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(field, ':')
	if colon <= 0 {
		return nil, nil, false
	}
	name = field[:colon]
	for _, c := range name {
		if !isTokenByte(c) {
			return nil, nil, false
		}
	}
	value = bytes.Trim(field[colon+1:], ows)
	for _, c := range value {
		if !isFieldByte(c) {
			return nil, nil, false
		}
	}
	return name, value, true
}

// validTarget accepts an origin-form target ("/path?query") or "*": visible
// ASCII, with well-formed percent escapes. nbio takes no other form.
func validTarget(t []byte) bool {
	if len(t) == 0 || (t[0] != '/' && !(len(t) == 1 && t[0] == '*')) {
		return false
	}
	for j := 0; j < len(t); j++ {
		c := t[j]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		if c == '%' {
			if j+2 >= len(t) {
				return false
			}
			if _, ok := hexVal(t[j+1]); !ok {
				return false
			}
			if _, ok := hexVal(t[j+2]); !ok {
				return false
			}
		}
	}
	return true
}

// parseVersion parses "HTTP/d.d".
func parseVersion(v []byte) (major, minor int, ok bool) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' {
		return 0, 0, false
	}
	if v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, 0, false
	}
	return int(v[5] - '0'), int(v[7] - '0'), true
}

// equalFold is ASCII case-insensitive equality of b and s.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for j := range len(b) {
		if lower(b[j]) != lower(s[j]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// tokenTable marks the bytes of an HTTP token (RFC 9110 §5.6.2), as
// httpguts defines them.
var tokenTable = func() (t [256]bool) {
	for c := range 128 {
		t[c] = httpguts.IsTokenRune(rune(c))
	}
	return t
}()

func isTokenByte(c byte) bool { return tokenTable[c] }

// isFieldByte: a byte allowed in a field value: visible, space, tab or
// obs-text; no other control character (NUL, CR, LF, DEL).
func isFieldByte(c byte) bool { return c == '\t' || (c >= ' ' && c != 0x7f) }

// unsafeString views b as a string for a call that does not keep it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// ows is HTTP's optional white space (RFC 9110, 5.6.3), the cutset of
// bytes.Trim around field values.
const ows = " \t"
