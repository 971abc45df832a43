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
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// What a hostile client can make the server hold, bounded (the 2026-12-07
// hostile run's rows c, d and e, and the oversized prefix and
// stream flood). Raw HTTP/2 clients: a grpc-go client will not send these.

const (
	echoMethod       = "/hotpath.v1.EchoService/Echo"
	echoStreamMethod = "/hotpath.v1.EchoService/EchoStream"
)

// A call that never sends its request message ends with DEADLINE_EXCEEDED
// at the request timeout, counted from when its headers arrived: grpc-go
// reads a unary request before any interceptor runs, and a stream's Recv
// never looks at an interceptor's context. Before the timeout was set in
// the tap, both calls stayed open until the client left.
func TestCallWithoutRequestEndsAtTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ts := start(t, Config{Timeout: timeout}, false)
	rc := dialRaw(t, ts.conn.Target())
	cases := []struct{ name, method string }{
		{"unary Echo", echoMethod},
		{"bidi EchoStream", echoStreamMethod},
	}
	ids := make([]uint32, len(cases))
	opened := time.Now()
	for i, tc := range cases {
		ids[i] = rc.open(tc.method)
	}
	got := rc.wait(5*time.Second, ids...) // generous: 16× the timeout
	for i, tc := range cases {
		e, ok := got[ids[i]]
		switch {
		case !ok:
			t.Errorf("%s: still open 5 s after it began, with a %v request timeout", tc.name, timeout)
		case e.grpcStatus != int(codes.DeadlineExceeded):
			t.Errorf("%s: ended with grpc-status %d (reset %v %v), want DEADLINE_EXCEEDED (4)", tc.name, e.grpcStatus, e.reset, e.rst)
		case e.at.Sub(opened) < timeout:
			t.Errorf("%s: ended after %v, before the %v timeout", tc.name, e.at.Sub(opened), timeout)
		}
	}
}

// MaxInFlight caps calls over the whole server: the call beyond it is
// refused with UNAVAILABLE before its request is read, and a slot comes
// back when a call's stream ends (here: the client resets it, and the
// connection closes).
func TestMaxInFlight(t *testing.T) {
	ts := start(t, Config{MaxInFlight: 3, Timeout: time.Minute}, false)
	a := dialRaw(t, ts.conn.Target())
	b := dialRaw(t, ts.conn.Target())
	held := []uint32{a.open(echoMethod), a.open(echoStreamMethod)}
	b.open(echoMethod)
	waitInFlight(t, ts.srv, 3)

	over := b.open(echoMethod)
	if e := b.wait(5*time.Second, over)[over]; e.grpcStatus != int(codes.Unavailable) {
		t.Fatalf("call beyond MaxInFlight: ended %+v, want grpc-status UNAVAILABLE (14)", e)
	}
	if n := ts.srv.InFlight(); n != 3 {
		t.Fatalf("InFlight after a refusal = %d, want 3", n)
	}

	a.wmu.Lock()
	err := a.fr.WriteRSTStream(held[0], http2.ErrCodeCancel)
	a.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	waitInFlight(t, ts.srv, 2)
	again := b.open(echoMethod)
	waitInFlight(t, ts.srv, 3)
	if e, ended := b.wait(200*time.Millisecond, again)[again]; ended {
		t.Fatalf("call admitted into a freed slot ended at once: %+v", e)
	}
	a.c.Close()
	b.c.Close()
	waitInFlight(t, ts.srv, 0)
}

// waitInFlight waits up to 5 s for s.InFlight() to be n.
func waitInFlight(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.InFlight() != n {
		if time.Now().After(deadline) {
			t.Fatalf("InFlight = %d after 5 s, want %d", s.InFlight(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bombFields returns header fields that HPACK encodes in a few KB but that
// decode to refs × (len(value)+37) bytes: one large literal the encoder
// indexes, then refs one-byte references to it.
func bombFields(refs int) []hpack.HeaderField {
	hf := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)}
	out := make([]hpack.HeaderField, refs)
	for i := range out {
		out[i] = hf
	}
	return out
}

// A header list larger than MaxHeaderListSize is refused before any
// handler runs (RST_STREAM), and refusing it does not store what it
// decodes to: 20 calls whose headers decode to 15.7 MB each allocate far
// less than one of them would. With grpc-go's 16 MiB default every bomb
// was decoded into metadata and reached the handler.
func TestHeaderListBombRefusedCheaply(t *testing.T) {
	const (
		calls = 20
		refs  = 3900 // 3,900 × 4,038 B = 15.7 MB decoded from a 7.9 KB block
		// Bound on what the server may allocate for all the calls; storing
		// the fields of one bomb alone takes 15.7 MB.
		maxAlloc = 8 << 20
	)
	ts := start(t, Config{}, false)
	rc := dialRaw(t, ts.conn.Target())
	// A normal call first, so connection set-up is not counted.
	warm := rc.open(echoMethod)
	rc.send(warm, 0, nil, true)
	if e := rc.wait(5*time.Second, warm)[warm]; e.grpcStatus != 0 {
		t.Fatalf("plain call: %+v", e)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ids := make([]uint32, calls)
	for i := range ids {
		ids[i] = rc.open(echoMethod, bombFields(refs)...)
		rc.send(ids[i], 0, nil, true)
	}
	got := rc.wait(10*time.Second, ids...)
	runtime.ReadMemStats(&after)
	for _, id := range ids {
		e, ok := got[id]
		if !ok || !e.reset || e.grpcStatus == 0 {
			t.Fatalf("stream %d with a 15.7 MB header list: %+v (ended %v), want a reset", id, e, ok)
		}
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bombs: %d KiB allocated in the test process", calls, alloc>>10)
	if alloc > maxAlloc {
		t.Errorf("%d header-list bombs made the process allocate %d MiB, limit %d MiB", calls, alloc>>20, maxAlloc>>20)
	}
	// The connection still serves.
	ok := rc.open(echoMethod)
	rc.send(ok, 0, nil, true)
	if e := rc.wait(5*time.Second, ok)[ok]; e.grpcStatus != 0 {
		t.Fatalf("call after the bombs: %+v", e)
	}
}

// A client that never opens its flow-control window (SETTINGS_INITIAL_
// WINDOW_SIZE 0) leaves every answer queued in the server. What they hold
// is bounded by the answers' size, not by grpc-go's 1 MiB buffer tier:
// 100 calls × 60 KB held 100 MiB before bufferPool and codec.
func TestZeroWindowClientBoundedMemory(t *testing.T) {
	const (
		calls   = 100 // MaxConcurrentStreams: what one connection can hold
		size    = 60 << 10
		maxHeld = 40 << 20 // 100 × 1 MiB before; 100 × 64 KiB after
	)
	ts := start(t, Config{Timeout: time.Minute}, false)
	rc := dialRaw(t, ts.conn.Target(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	body, err := proto.Marshal(&hotpathv1.EchoRequest{Data: make([]byte, size)})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ids := make([]uint32, calls)
	for i := range ids {
		ids[i] = rc.open(echoMethod)
		rc.send(ids[i], uint32(len(body)), body, true)
	}
	waitInFlight(t, ts.srv, 0) // every handler has answered: the answers are queued
	if got := rc.wait(0, ids...); len(got) != 0 {
		t.Fatalf("%d of %d calls ended although the client's window is 0", len(got), calls)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d answers of %d KiB queued: heap in use +%d KiB", calls, size>>10, held>>10)
	if held > maxHeld {
		t.Errorf("%d queued answers of %d KiB hold %d MiB, limit %d MiB", calls, size>>10, held>>20, maxHeld>>20)
	}
}

// A length prefix that declares 4 GiB is refused with RESOURCE_EXHAUSTED
// from the prefix alone, and the connection goes on serving.
func TestOversizedLengthPrefix(t *testing.T) {
	ts := start(t, Config{}, false)
	rc := dialRaw(t, ts.conn.Target())
	id := rc.open(echoMethod)
	rc.send(id, 1<<32-1, []byte("tiny"), false)
	if e := rc.wait(5*time.Second, id)[id]; e.grpcStatus != int(codes.ResourceExhausted) {
		t.Fatalf("4 GiB prefix: %+v, want RESOURCE_EXHAUSTED (8)", e)
	}
	ok := rc.open(echoMethod)
	rc.send(ok, 0, nil, true)
	if e := rc.wait(5*time.Second, ok)[ok]; e.grpcStatus != 0 {
		t.Fatalf("call after the oversized prefix: %+v", e)
	}
}

// 10,000 streams opened on one connection: MaxConcurrentStreams are
// admitted, every other one is refused with REFUSED_STREAM at once.
func TestStreamFloodOneConnection(t *testing.T) {
	const streams = 10_000
	ts := start(t, Config{Timeout: time.Minute}, false)
	rc := dialRaw(t, ts.conn.Target())
	ids := make([]uint32, streams)
	for i := range ids {
		ids[i] = rc.open(echoMethod)
	}
	limit := int(DefaultMaxConcurrentStreams)
	got := rc.wait(10*time.Second, ids[limit:]...)
	refused := 0
	for _, e := range got {
		if e.reset && e.rst == http2.ErrCodeRefusedStream {
			refused++
		}
	}
	if refused != streams-limit {
		t.Fatalf("%d of %d streams beyond the limit refused with REFUSED_STREAM", refused, streams-limit)
	}
	if n := ts.srv.InFlight(); n != limit {
		t.Fatalf("InFlight = %d, want the %d admitted streams", n, limit)
	}
}

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
	rc := dialRaw(t, ts.conn.Target(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	opened := time.Now()
	for range calls {
		rc.send(rc.open(echoMethod), uint32(len(body)), body, true)
	}
	if !rc.closed(5 * time.Second) { // 10× the write timeout
		t.Fatalf("connection with answers stuck behind a 0 window still open 5 s later (write timeout %v)", writeTimeout)
	}
	if d := time.Since(opened); d < writeTimeout {
		t.Errorf("closed after %v, before the %v write timeout", d, writeTimeout)
	}
	if n := ts.srv.watch.closedCount(); n != 1 {
		t.Errorf("watchdog closed %d connections, want 1", n)
	}
	rc.c.Close()
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

// The cap frees a slot when the call's context ends, and after a sweep
// that found it full it refuses without sweeping for fullRecheck.
func TestAdmissionCap(t *testing.T) {
	now := time.Unix(0, 0)
	a := newAdmission(0, 2)
	a.now = func() time.Time { return now }
	calls := [4]chan struct{}{make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})}
	steps := []struct {
		why  string
		do   func()
		call int
		want bool
	}{
		{"first slot", nil, 0, true},
		{"second slot", nil, 1, true},
		{"full: sweep finds both running", nil, 2, false},
		{"call 0 ended, but the full sweep is trusted for fullRecheck", func() { close(calls[0]) }, 2, false},
		{"after fullRecheck the sweep frees call 0's slot", func() { now = now.Add(fullRecheck) }, 2, true},
		{"full again", nil, 3, false},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		if got := a.admit(calls[st.call]); got != st.want {
			t.Fatalf("%s: admit = %v, want %v", st.why, got, st.want)
		}
	}
	if n := a.inFlight(); n != 2 {
		t.Fatalf("inFlight = %d, want 2", n)
	}
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
