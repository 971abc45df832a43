package rpc

import (
	"bytes"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// The write watchdog (watchdog.go): what it closes, what it leaves alone,
// and its frame scanner.

// With WriteTimeout, a connection whose answers stay queued behind a zero
// window is closed once a call on it has been open that long, which frees
// what it held; a connection whose calls end is left alone. Without the
// watchdog the queued answers stayed until the client left.
func TestWriteTimeoutClosesStuckConnection(t *testing.T) {
	const (
		writeTimeout = 500 * time.Millisecond
		calls        = 100 // 100 × 60 KiB queued: 6 MiB
		maxLeft      = 3 << 20
	)
	ts := start(t, Config{Timeout: 200 * time.Millisecond, WriteTimeout: writeTimeout}, false)
	tc := hotpathv1.NewTimeServiceClient(ts.conn)
	if _, err := tc.Now(ctxT(t), &hotpathv1.NowRequest{}); err != nil {
		t.Fatal(err)
	}
	body, err := proto.Marshal(&hotpathv1.EchoRequest{Data: make([]byte, 60<<10)})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	rc := h2raw.Dial(t, ts.conn.Target(), h2raw.Options{Settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}})
	opened := time.Now()
	for range calls {
		rc.SendGRPC(rc.OpenGRPC(echoMethod), uint32(len(body)), body, true)
	}
	if !rc.Closed(5 * time.Second) { // 10× the write timeout
		t.Fatalf("connection with answers stuck behind a 0 window still open 5 s later (write timeout %v)", writeTimeout)
	}
	if d := time.Since(opened); d < writeTimeout {
		t.Errorf("closed after %v, before the %v write timeout", d, writeTimeout)
	}
	if n := ts.srv.watch.closedCount(); n != 1 {
		t.Errorf("watchdog closed %d connections, want 1", n)
	}
	rc.Close()
	// What the answers held is freed once grpc-go has torn the transport down.
	var left int64
	for deadline := time.Now().Add(5 * time.Second); ; {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if left = int64(ms.HeapInuse) - int64(base.HeapInuse); left <= maxLeft || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("heap in use after the close: %+d KiB against before the calls", left>>10)
	if left > maxLeft {
		t.Errorf("%d MiB still in use after the watchdog closed the connection of %d stuck 60 KiB answers", left>>20, calls)
	}
	// The well-behaved connection was there all along and still serves.
	time.Sleep(2 * writeTimeout)
	if _, err := tc.Now(ctxT(t), &hotpathv1.NowRequest{}); err != nil {
		t.Fatalf("call on the healthy connection: %v", err)
	}
	if n := ts.srv.watch.closedCount(); n != 1 {
		t.Errorf("watchdog closed %d connections, want only the stuck one", n)
	}
}

// The frame scanner finds stream openings and endings however the bytes
// are cut: every chunk size from 1 byte up, the preface first.
func TestWatchedConnFollowsFrames(t *testing.T) {
	var client, server bytes.Buffer
	client.WriteString(http2.ClientPreface)
	cf, sf := http2.NewFramer(&client, nil), http2.NewFramer(&server, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	hdr := []byte{0x83, 0x86} // :method POST, :scheme http (static table)
	must(cf.WriteSettings())
	for _, id := range []uint32{1, 3, 5, 7, 9} {
		must(cf.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hdr, EndHeaders: true}))
		must(cf.WriteData(id, true, make([]byte, 100)))
	}
	must(cf.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hdr, EndHeaders: true, EndStream: true})) // not a new stream
	must(cf.WriteRSTStream(9, http2.ErrCodeCancel))                                                                    // the client gives up on 9
	must(sf.WriteSettings())
	must(sf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr, EndHeaders: true}))
	must(sf.WriteData(1, false, make([]byte, 40000)))
	must(sf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr, EndHeaders: true, EndStream: true})) // trailers
	must(sf.WriteRSTStream(5, http2.ErrCodeRefusedStream))
	must(sf.WriteData(7, true, nil))
	for chunk := 1; chunk <= 64; chunk++ {
		w := newWatchdog(time.Hour)
		c := &watchedConn{w: w, open: map[uint32]struct{}{}}
		c.rd.skip = clientPrefaceLen
		for b := client.Bytes(); len(b) > 0; b = b[min(chunk, len(b)):] {
			c.scan(&c.rd, b[:min(chunk, len(b))], true)
		}
		for b := server.Bytes(); len(b) > 0; b = b[min(chunk, len(b)):] {
			c.scan(&c.wr, b[:min(chunk, len(b))], false)
		}
		if len(c.open) != 1 || c.order[c.head].id != 3 {
			t.Fatalf("chunks of %d bytes: open %v, order %v; want only stream 3", chunk, c.open, c.order[c.head:])
		}
		w.remove(c) // stops the goroutine opened() started
	}
}

// The oldest open stream is found whatever order streams end in, through
// bursts that grow and compact the queue.
func TestWatchedConnOldest(t *testing.T) {
	w := newWatchdog(time.Hour)
	c := &watchedConn{w: w, open: map[uint32]struct{}{}}
	defer w.remove(c)
	base := time.Unix(1000, 0)
	now := base
	w.now = func() time.Time { return now }
	const n = 3000
	for i := range n {
		now = base.Add(time.Duration(i) * time.Second)
		c.opened(uint32(2*i + 1))
	}
	// End every stream but the last 10, newest first, then oldest first.
	for i := n - 11; i >= n/2; i-- {
		c.ended(uint32(2*i + 1))
	}
	if got := c.oldest(); !got.Equal(base) {
		t.Fatalf("oldest after ending the newer half: %v, want %v", got, base)
	}
	for i := range n / 2 {
		c.ended(uint32(2*i + 1))
		want := base.Add(time.Duration(i+1) * time.Second)
		if i+1 >= n/2 {
			want = base.Add(time.Duration(n-10) * time.Second)
		}
		if got := c.oldest(); !got.Equal(want) {
			t.Fatalf("after ending stream %d: oldest %v, want %v", 2*i+1, got, want)
		}
	}
	for i := n - 10; i < n; i++ {
		c.ended(uint32(2*i + 1))
	}
	if got := c.oldest(); got != farFuture || len(c.open) != 0 {
		t.Fatalf("all ended: oldest %v, %d open", got, len(c.open))
	}
}

// A client that opens every window but never reads its socket: grpc-go's
// writer blocks in Write once the socket buffers are full, and the calls
// behind it never end on the wire. The watchdog closes the connection, which
// unblocks the writer. Each answer echoes 15 KB of metadata that HPACK
// sends once, so the client's side costs a few bytes a call.
func TestWriteTimeoutClosesUnreadSocket(t *testing.T) {
	const writeTimeout = 500 * time.Millisecond
	ts := start(t, Config{Timeout: 200 * time.Millisecond, WriteTimeout: writeTimeout}, false)
	c, err := net.Dial("tcp", ts.conn.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteWindowUpdate(0, 1<<30); err != nil {
		t.Fatal(err)
	}
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	pad := hpack.HeaderField{Name: "x-pad", Value: strings.Repeat("p", 15000)}
	wrote := make(chan int, 1)
	go func() { // until the server stops reading or closes
		n := 0
		defer func() { wrote <- n }()
		for id := uint32(1); id < 2*20000; id += 2 {
			hbuf.Reset()
			for _, hf := range []hpack.HeaderField{
				{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
				{Name: ":path", Value: echoMethod}, {Name: ":authority", Value: "hotpath.test"},
				{Name: "content-type", Value: "application/grpc"}, pad,
			} {
				_ = enc.WriteField(hf)
			}
			if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true}) != nil ||
				fr.WriteData(id, true, make([]byte, 5)) != nil {
				return
			}
			n++
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for ts.srv.watch.closedCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connection whose client never reads still open after 10 s (write timeout %v)", writeTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	t.Logf("the client wrote %d calls before the watchdog closed its connection", <-wrote)
}

// The frame scanner's view of the streams does not depend on how the bytes
// are cut into reads and writes, whatever the bytes are.
func FuzzWatchedConnScan(f *testing.F) {
	var seed bytes.Buffer
	fr := http2.NewFramer(&seed, nil)
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x83}, EndHeaders: true})
	_ = fr.WriteData(1, true, []byte("hello"))
	_ = fr.WriteRSTStream(3, http2.ErrCodeCancel)
	f.Add(seed.Bytes(), seed.Bytes(), uint8(1))
	f.Add(seed.Bytes(), []byte{}, uint8(7))
	f.Fuzz(func(t *testing.T, fromClient, fromServer []byte, chunk uint8) {
		scan := func(step int) (map[uint32]struct{}, uint32) {
			w := newWatchdog(time.Hour)
			c := &watchedConn{w: w, open: map[uint32]struct{}{}}
			defer w.remove(c)
			// The client's bytes first, then the server's: on a connection
			// a stream ends after it opened, so the order is given.
			for b := fromClient; len(b) > 0; b = b[min(step, len(b)):] {
				c.scan(&c.rd, b[:min(step, len(b))], true)
			}
			for b := fromServer; len(b) > 0; b = b[min(step, len(b)):] {
				c.scan(&c.wr, b[:min(step, len(b))], false)
			}
			return c.open, c.lastID
		}
		whole, wholeLast := scan(1 << 30)
		cut, cutLast := scan(int(chunk) + 1)
		if wholeLast != cutLast || len(whole) != len(cut) {
			t.Fatalf("whole: %v (last %d); in %d-byte pieces: %v (last %d)", whole, wholeLast, int(chunk)+1, cut, cutLast)
		}
		for id := range whole {
			if _, ok := cut[id]; !ok {
				t.Fatalf("stream %d open when scanned whole, not in pieces", id)
			}
		}
	})
}
