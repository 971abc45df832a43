package rpc

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
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
	rc := h2raw.Dial(t, ts.conn.Target(), h2raw.Options{})
	cases := []struct{ name, method string }{
		{"unary Echo", echoMethod},
		{"bidi EchoStream", echoStreamMethod},
	}
	ids := make([]uint32, len(cases))
	opened := time.Now()
	for i, tc := range cases {
		ids[i] = rc.OpenGRPC(tc.method)
	}
	got := rc.Wait(5*time.Second, ids...) // generous: 16× the timeout
	for i, tc := range cases {
		e, ok := got[ids[i]]
		switch {
		case !ok:
			t.Errorf("%s: still open 5 s after it began, with a %v request timeout", tc.name, timeout)
		case e.Status != int(codes.DeadlineExceeded):
			t.Errorf("%s: ended with grpc-status %d (reset %v %v), want DEADLINE_EXCEEDED (4)", tc.name, e.Status, e.Reset, e.Code)
		case e.At.Sub(opened) < timeout:
			t.Errorf("%s: ended after %v, before the %v timeout", tc.name, e.At.Sub(opened), timeout)
		}
	}
}

// MaxInFlight caps calls over the whole server: the call beyond it is
// refused with UNAVAILABLE before its request is read, and a slot comes
// back when a call's stream ends (here: the client resets it, and the
// connection closes).
func TestMaxInFlight(t *testing.T) {
	ts := start(t, Config{MaxInFlight: 3, Timeout: time.Minute}, false)
	a := h2raw.Dial(t, ts.conn.Target(), h2raw.Options{})
	b := h2raw.Dial(t, ts.conn.Target(), h2raw.Options{})
	held := []uint32{a.OpenGRPC(echoMethod), a.OpenGRPC(echoStreamMethod)}
	b.OpenGRPC(echoMethod)
	waitInFlight(t, ts.srv, 3)

	over := b.OpenGRPC(echoMethod)
	if e := b.Wait(5*time.Second, over)[over]; e.Status != int(codes.Unavailable) {
		t.Fatalf("call beyond MaxInFlight: ended %+v, want grpc-status UNAVAILABLE (14)", e)
	}
	if n := ts.srv.InFlight(); n != 3 {
		t.Fatalf("InFlight after a refusal = %d, want 3", n)
	}

	if err := a.Write(func(fr *http2.Framer) error { return fr.WriteRSTStream(held[0], http2.ErrCodeCancel) }); err != nil {
		t.Fatal(err)
	}
	waitInFlight(t, ts.srv, 2)
	again := b.OpenGRPC(echoMethod)
	waitInFlight(t, ts.srv, 3)
	if e, ended := b.Wait(200*time.Millisecond, again)[again]; ended {
		t.Fatalf("call admitted into a freed slot ended at once: %+v", e)
	}
	a.Close()
	b.Close()
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

// A header list larger than MaxHeaderListSize is refused before any
// handler runs (RST_STREAM), and refusing it does not store what it
// decodes to: 20 calls whose headers decode to 15.7 MB each allocate far
// less than one of them would. With grpc-go's 16 MiB default every bomb
// was decoded into metadata and reached the handler.
func TestHeaderListBombRefusedCheaply(t *testing.T) {
	const (
		calls = 20
		refs  = 3900 // 3,900 × 4,038 B = 15.7 MB decoded from a 7.9 KB block
		// Bound on what the process (server and this client) may allocate
		// for all the calls: 3.5 MiB measured; storing the fields of one
		// bomb alone takes 15.7 MB, of the 20 over 300 MB.
		maxAlloc = 32 << 20
	)
	ts := start(t, Config{}, false)
	rc := h2raw.Dial(t, ts.conn.Target(), h2raw.Options{})
	// A normal call first, so connection set-up is not counted.
	warm := rc.OpenGRPC(echoMethod)
	rc.SendGRPC(warm, 0, nil, true)
	if e := rc.Wait(5*time.Second, warm)[warm]; e.Status != 0 {
		t.Fatalf("plain call: %+v", e)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ids := make([]uint32, calls)
	bomb := h2raw.BombFields(refs)
	for i := range ids {
		ids[i] = rc.OpenGRPC(echoMethod, bomb...)
		rc.SendGRPC(ids[i], 0, nil, true)
	}
	got := rc.Wait(10*time.Second, ids...)
	runtime.ReadMemStats(&after)
	for _, id := range ids {
		e, ok := got[id]
		if !ok || !e.Reset || e.Status == 0 {
			t.Fatalf("stream %d with a 15.7 MB header list: %+v (ended %v), want a reset", id, e, ok)
		}
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bombs: %d KiB allocated in the test process", calls, alloc>>10)
	if alloc > maxAlloc {
		t.Errorf("%d header-list bombs made the process allocate %d MiB, limit %d MiB", calls, alloc>>20, maxAlloc>>20)
	}
	// The connection still serves.
	ok := rc.OpenGRPC(echoMethod)
	rc.SendGRPC(ok, 0, nil, true)
	if e := rc.Wait(5*time.Second, ok)[ok]; e.Status != 0 {
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
	rc := h2raw.Dial(t, ts.conn.Target(), h2raw.Options{Settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}})
	body, err := proto.Marshal(&hotpathv1.EchoRequest{Data: make([]byte, size)})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ids := make([]uint32, calls)
	for i := range ids {
		ids[i] = rc.OpenGRPC(echoMethod)
		rc.SendGRPC(ids[i], uint32(len(body)), body, true)
	}
	waitInFlight(t, ts.srv, 0) // every handler has answered: the answers are queued
	if got := rc.Wait(0, ids...); len(got) != 0 {
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
	rc := h2raw.Dial(t, ts.conn.Target(), h2raw.Options{})
	id := rc.OpenGRPC(echoMethod)
	rc.SendGRPC(id, 1<<32-1, []byte("tiny"), false)
	if e := rc.Wait(5*time.Second, id)[id]; e.Status != int(codes.ResourceExhausted) {
		t.Fatalf("4 GiB prefix: %+v, want RESOURCE_EXHAUSTED (8)", e)
	}
	ok := rc.OpenGRPC(echoMethod)
	rc.SendGRPC(ok, 0, nil, true)
	if e := rc.Wait(5*time.Second, ok)[ok]; e.Status != 0 {
		t.Fatalf("call after the oversized prefix: %+v", e)
	}
}

// 10,000 streams opened on one connection: MaxConcurrentStreams are
// admitted, every other one is refused with REFUSED_STREAM at once.
func TestStreamFloodOneConnection(t *testing.T) {
	const streams = 10_000
	ts := start(t, Config{Timeout: time.Minute}, false)
	rc := h2raw.Dial(t, ts.conn.Target(), h2raw.Options{})
	ids := make([]uint32, streams)
	for i := range ids {
		ids[i] = rc.OpenGRPC(echoMethod)
	}
	limit := int(DefaultMaxConcurrentStreams)
	got := rc.Wait(10*time.Second, ids[limit:]...)
	refused := 0
	for _, e := range got {
		if e.Reset && e.Code == http2.ErrCodeRefusedStream {
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
