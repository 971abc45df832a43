package h2raw

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Ending is how the server ended a stream, as the reader first saw it:
// trailers then RST_STREAM(NO_ERROR) is the trailers' ending.
type Ending struct {
	// Status is the grpc-status of the HEADERS frame that carried
	// END_STREAM; StatusMissing when it had none (or not a number) or the
	// stream ended on a DATA frame; StatusReset for RST_STREAM.
	Status int
	Reset  bool          // the server sent RST_STREAM
	Code   http2.ErrCode // RST_STREAM's code when Reset
	At     time.Time     // when the reader saw the ending
}

// Ending.Status values that are not gRPC codes.
const (
	StatusReset   = -1
	StatusMissing = -2
)

// String names the ending in failure messages.
func (e Ending) String() string {
	if e.Reset {
		return fmt.Sprintf("RST_STREAM %v", e.Code)
	}
	return fmt.Sprintf("grpc-status %d", e.Status)
}

// Authority is the :authority OpenGRPC sends.
const Authority = "hotpath.test"

// OpenGRPC writes the HEADERS of a gRPC call to method (a path such as
// "/pkg.Service/Method"), without END_STREAM, and returns its stream ID.
// The fields are :method POST, :scheme (https over TLS, else http),
// :path, :authority Authority, content-type application/grpc and te
// trailers, then extra in order, through WriteHeaders (so the dynamic
// table repeats what repeats: extra may be a header bomb). Stream IDs are
// 1, 3, 5, … in call order; a test that also picks IDs itself keeps clear
// of them. It fails the test if the write fails.
func (c *Conn) OpenGRPC(method string, extra ...hpack.HeaderField) uint32 {
	c.t.Helper()
	scheme := "http"
	if _, ok := c.nc.(*tls.Conn); ok {
		scheme = "https"
	}
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: scheme},
		{Name: ":path", Value: method}, {Name: ":authority", Value: Authority},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}, extra...)
	c.wmu.Lock()
	id := c.next
	c.next += 2
	err := c.writeHeadersLocked(id, false, fields)
	c.unlock()
	if err != nil {
		c.t.Fatalf("h2raw: HEADERS on stream %d: %v", id, err)
	}
	return id
}

// BombFields returns a header bomb for OpenGRPC's extra fields: refs copies
// of one field x-bomb with a 4,000-byte value. Through the connection's
// encoder the block is a few KB (the first copy a literal the encoder
// indexes, then one-byte references to it) but decodes to refs × 4,038
// bytes (RFC 7541 §4.1 size: name, value and 32). The caller owns the slice.
func BombFields(refs int) []hpack.HeaderField {
	hf := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)}
	out := make([]hpack.HeaderField, refs)
	for i := range out {
		out[i] = hf
	}
	return out
}

// SendGRPC writes one gRPC message on stream id: the 5-byte prefix
// (uncompressed) declaring declared bytes, which may lie, then body, in
// DATA frames of at most 16 KiB, END_STREAM on the last when end. It keeps
// to the connection's flow-control window, waiting for the server's
// WINDOW_UPDATEs, but not to the stream's: callers keep a stream's bytes
// under the server's initial stream window (64 KiB at least). It fails the
// test if the connection ends first or a write fails. body is not kept.
func (c *Conn) SendGRPC(id, declared uint32, body []byte, end bool) {
	c.t.Helper()
	msg := make([]byte, 5+len(body))
	binary.BigEndian.PutUint32(msg[1:5], declared)
	copy(msg[5:], body)
	for len(msg) > 0 {
		n := min(len(msg), 16384)
		c.mu.Lock()
		for c.connWin < int64(n) && c.readErr == nil {
			c.cond.Wait()
		}
		err := c.readErr
		c.connWin -= int64(n)
		c.mu.Unlock()
		if err != nil {
			c.t.Fatalf("h2raw: connection ended while sending on stream %d: %v", id, err)
		}
		last := n == len(msg)
		if err := c.Write(func(fr *http2.Framer) error { return fr.WriteData(id, last && end, msg[:n]) }); err != nil {
			c.t.Fatalf("h2raw: DATA on stream %d: %v", id, err)
		}
		msg = msg[n:]
	}
}

// Wait returns how the given streams ended, waiting up to d for all of
// them or for the connection to end; streams not ended by then are absent
// from the map, which the caller owns.
func (c *Conn) Wait(d time.Duration, ids ...uint32) map[uint32]Ending {
	deadline := time.Now().Add(d)
	wake := time.AfterFunc(d, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer wake.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		got := make(map[uint32]Ending, len(ids))
		for _, id := range ids {
			if e, ok := c.ended[id]; ok {
				got[id] = e
			}
		}
		if len(got) == len(ids) || c.readErr != nil || !time.Now().Before(deadline) {
			return got
		}
		c.cond.Wait()
	}
}

// end records id's first ending.
func (c *Conn) end(id uint32, e Ending) {
	e.At = time.Now()
	c.mu.Lock()
	if _, done := c.ended[id]; !done {
		c.ended[id] = e
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}
