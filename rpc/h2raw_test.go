package rpc

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawClient is a raw HTTP/2 client for what a grpc-go client will not send:
// a stream that never sends its request, a header list of any size, a
// zero flow-control window, a length prefix that lies. It keeps to the
// server's flow-control window for what it sends, acknowledges SETTINGS,
// and records how each stream ended.
type rawClient struct {
	t    testing.TB
	c    net.Conn
	fr   *http2.Framer
	wmu  sync.Mutex // framer writes and enc
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32

	mu      sync.Mutex
	cond    *sync.Cond
	connWin int64             // what the server lets us send, connection level
	ended   map[uint32]ending // streams the server has ended
	readErr error             // why the reader stopped
}

// ending is how the server ended a stream: trailers with a grpc-status, or
// RST_STREAM with a code.
type ending struct {
	grpcStatus int // -1: none (reset)
	rst        http2.ErrCode
	reset      bool
	at         time.Time
}

// dialRaw opens an h2c connection to addr with the given client SETTINGS.
func dialRaw(t testing.TB, addr string, settings ...http2.Setting) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	r := &rawClient{t: t, c: c, fr: http2.NewFramer(c, c), next: 1, connWin: 65535, ended: map[uint32]ending{}}
	r.cond = sync.NewCond(&r.mu)
	r.enc = hpack.NewEncoder(&r.hbuf)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.fr.MaxHeaderListSize = 1 << 20
	if err := r.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	go r.read()
	return r
}

// read handles the server's frames until the connection ends.
func (r *rawClient) read() {
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.mu.Lock()
			r.readErr = err
			r.cond.Broadcast()
			r.mu.Unlock()
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				r.wmu.Lock()
				_ = r.fr.WriteSettingsAck()
				r.wmu.Unlock()
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				r.mu.Lock()
				r.connWin += int64(f.Increment)
				r.cond.Broadcast()
				r.mu.Unlock()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				st := -1
				if v := f.PseudoValue("status"); v != "" && v != "200" {
					st = -2
				}
				for _, hf := range f.RegularFields() {
					if hf.Name == "grpc-status" {
						st, _ = strconv.Atoi(hf.Value)
					}
				}
				r.end(f.StreamID, ending{grpcStatus: st})
			}
		case *http2.RSTStreamFrame:
			r.end(f.StreamID, ending{grpcStatus: -1, reset: true, rst: f.ErrCode})
		}
	}
}

func (r *rawClient) end(id uint32, e ending) {
	e.at = time.Now()
	r.mu.Lock()
	if _, done := r.ended[id]; !done { // trailers then RST_STREAM: the trailers tell
		r.ended[id] = e
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

// open sends the HEADERS of a gRPC call to method (without END_STREAM)
// with extra fields after the standard ones, and returns its stream ID.
func (r *rawClient) open(method string, extra ...hpack.HeaderField) uint32 {
	r.t.Helper()
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.hbuf.Reset()
	for _, hf := range append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: method}, {Name: ":authority", Value: "hotpath.test"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}, extra...) {
		if err := r.enc.WriteField(hf); err != nil {
			r.t.Fatal(err)
		}
	}
	id := r.next
	r.next += 2
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.hbuf.Bytes(), EndHeaders: true}); err != nil {
		r.t.Fatalf("HEADERS on stream %d: %v", id, err)
	}
	return id
}

// send writes one gRPC message (5-byte prefix declaring declared bytes,
// then body) on stream id in DATA frames, within the connection window,
// ending the stream when end is set. The stream windows are the server's
// (at least 64 KiB), so callers keep a stream's body below that.
func (r *rawClient) send(id uint32, declared uint32, body []byte, end bool) {
	r.t.Helper()
	msg := make([]byte, 5+len(body))
	binary.BigEndian.PutUint32(msg[1:5], declared)
	copy(msg[5:], body)
	for len(msg) > 0 || end {
		n := min(len(msg), 16384)
		r.mu.Lock()
		for r.connWin < int64(n) && r.readErr == nil {
			r.cond.Wait()
		}
		err := r.readErr
		r.connWin -= int64(n)
		r.mu.Unlock()
		if err != nil {
			r.t.Fatalf("connection ended while sending on stream %d: %v", id, err)
		}
		last := n == len(msg) && end
		r.wmu.Lock()
		werr := r.fr.WriteData(id, last, msg[:n])
		r.wmu.Unlock()
		if werr != nil {
			r.t.Fatalf("DATA on stream %d: %v", id, werr)
		}
		msg = msg[n:]
		if last || len(msg) == 0 && !end {
			return
		}
	}
}

// wait returns how the given streams ended, waiting up to d for all of
// them; streams still open after d are missing from the map.
func (r *rawClient) wait(d time.Duration, ids ...uint32) map[uint32]ending {
	deadline := time.Now().Add(d)
	stop := time.AfterFunc(d, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer stop.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		got := map[uint32]ending{}
		for _, id := range ids {
			if e, ok := r.ended[id]; ok {
				got[id] = e
			}
		}
		if len(got) == len(ids) || r.readErr != nil || !time.Now().Before(deadline) {
			return got
		}
		r.cond.Wait()
	}
}

// closed reports whether the connection ended (read error) within d.
func (r *rawClient) closed(d time.Duration) bool {
	stop := time.AfterFunc(d, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer stop.Stop()
	deadline := time.Now().Add(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.readErr == nil && time.Now().Before(deadline) {
		r.cond.Wait()
	}
	return r.readErr != nil
}
