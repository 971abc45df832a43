package h2raw_test

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// grpcLike answers like a gRPC server, over net/http's HTTP/2: trailers
// with grpc-status 0 when the one message's prefix declares the bytes that
// followed it, 3 when it lies; /abort resets the stream.
func grpcLike(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/abort" {
		panic(http.ErrAbortHandler)
	}
	b, err := io.ReadAll(r.Body)
	st := 0
	if err != nil || len(b) < 5 || int(binary.BigEndian.Uint32(b[1:5])) != len(b)-5 {
		st = 3
	}
	w.Header().Set("Content-Type", "application/grpc")
	w.WriteHeader(http.StatusOK)
	w.Header().Set(http.TrailerPrefix+"Grpc-Status", strconv.Itoa(st))
}

// startH2 serves h on 127.0.0.1:0 with HTTP/2 only: h2c (prior
// knowledge), or TLS with ALPN h2 (then it returns the client's config).
func startH2(t *testing.T, h http.Handler, useTLS bool) (string, *tls.Config) {
	t.Helper()
	if useTLS {
		ts := httptest.NewUnstartedServer(h)
		ts.EnableHTTP2 = true
		ts.StartTLS()
		t.Cleanup(ts.Close)
		cfg := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.NextProtos = nil // h2raw offers h2 and insists on it
		return ts.Listener.Addr().String(), cfg
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), nil
}

// step is one thing a fake server does on its connection.
type step func(nc net.Conn, fr *http2.Framer) error

// fakeServer accepts one connection on 127.0.0.1:0, reads the client
// preface and runs the steps in order with the connection and a Framer on
// the rest; the first error fails the test at cleanup. The connection
// closes after the last step.
func fakeServer(t *testing.T, steps ...step) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		_ = ln.Close()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		pre := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c, pre); err != nil || string(pre) != http2.ClientPreface {
			errc <- fmt.Errorf("preface %q: %v", pre, err)
			return
		}
		fr := http2.NewFramer(c, c)
		for i, st := range steps {
			if err := st(c, fr); err != nil {
				errc <- fmt.Errorf("step %d: %w", i+1, err)
				return
			}
		}
		errc <- nil
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		if err := <-errc; err != nil {
			t.Errorf("fake server: %v", err)
		}
	})
	return ln.Addr().String()
}

// expect reads one frame and checks its type and flags.
func expect(typ http2.FrameType, flags http2.Flags) step {
	return func(_ net.Conn, fr *http2.Framer) error {
		f, err := fr.ReadFrame()
		if err != nil {
			return fmt.Errorf("want %v: %w", typ, err)
		}
		if h := f.Header(); h.Type != typ || h.Flags != flags {
			return fmt.Errorf("got %v flags %#x, want %v flags %#x", h.Type, h.Flags, typ, flags)
		}
		return nil
	}
}

// sendSettings writes an empty SETTINGS frame.
func sendSettings(_ net.Conn, fr *http2.Framer) error { return fr.WriteSettings() }

// A client that waits for the server's answers gets them through Await, in
// plaintext and over TLS, with its SETTINGS acknowledged by the reader.
func TestAwait(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[useTLS], func(t *testing.T) {
			addr, cfg := startH2(t, http.HandlerFunc(grpcLike), useTLS)
			c := h2raw.Dial(t, addr, h2raw.Options{TLS: cfg})
			c.Await(5*time.Second, "SETTINGS ACK", h2raw.IsSettingsAck)
			c.Ping(5*time.Second, [8]byte{4, 2})
			scheme := map[bool]string{false: "http", true: "https"}[useTLS]
			err := c.WriteHeaders(1, true, hpack.HeaderField{Name: ":method", Value: "GET"}, hpack.HeaderField{Name: ":scheme", Value: scheme},
				hpack.HeaderField{Name: ":path", Value: "/abort"}, hpack.HeaderField{Name: ":authority", Value: "x"})
			if err != nil {
				t.Fatal(err)
			}
			f := c.Await(5*time.Second, "RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
			if id := f.Header().StreamID; id != 1 {
				t.Errorf("RST_STREAM on stream %d, want 1", id)
			}
			if _, err := c.Next(20 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Next on a quiet connection: %v, want a deadline error", err)
			}
			if e, ok := c.Wait(0, 1)[1]; !ok || !e.Reset || e.Status != h2raw.StatusReset {
				t.Errorf("stream 1's ending: %+v (%v), want a reset", e, ok)
			}
		})
	}
}

// gRPC calls against net/http's server: messages whose total is beyond the
// connection window it grants at first (1 MiB) arrive whole; every call's
// ending is recorded, with its grpc-status or as a reset.
func TestGRPCCalls(t *testing.T) {
	addr, _ := startH2(t, http.HandlerFunc(grpcLike), false)
	c := h2raw.Dial(t, addr, h2raw.Options{})
	body := make([]byte, 60<<10)
	var ok []uint32
	for range 24 { // 1.4 MiB
		id := c.OpenGRPC("/echo")
		c.SendGRPC(id, uint32(len(body)), body, true)
		ok = append(ok, id)
	}
	lie := c.OpenGRPC("/echo")
	c.SendGRPC(lie, 100, []byte("tiny"), true)
	abort := c.OpenGRPC("/abort")
	got := c.Wait(10*time.Second, append(ok, lie, abort)...)
	for _, id := range ok {
		if e := got[id]; e.Status != 0 || e.Reset || e.At.IsZero() {
			t.Errorf("stream %d: %+v, want grpc-status 0", id, e)
		}
	}
	if e := got[lie]; e.Status != 3 {
		t.Errorf("lying prefix: %v, want grpc-status 3", e)
	}
	if e := got[abort]; !e.Reset || e.Code != http2.ErrCodeInternal || e.Status != h2raw.StatusReset {
		t.Errorf("aborted call: %v, want RST_STREAM INTERNAL_ERROR", e)
	}
	if c.Closed(0) {
		t.Errorf("connection ended: %v", c.Err())
	}
}

// A stream that ends without grpc-status (a plain 404, ended by DATA) is
// recorded as StatusMissing.
func TestEndingWithoutStatus(t *testing.T) {
	addr, _ := startH2(t, http.NotFoundHandler(), false)
	c := h2raw.Dial(t, addr, h2raw.Options{})
	id := c.OpenGRPC("/nowhere")
	c.SendGRPC(id, 0, nil, true)
	if e, ok := c.Wait(5*time.Second, id)[id]; !ok || e.Reset || e.Status != h2raw.StatusMissing {
		t.Errorf("404: %+v (ended %v), want StatusMissing", e, ok)
	}
}

// The queue keeps the newest frames: of 11 frames into a queue of 4, the
// oldest 7 are dropped and counted, the last 4 come in order, each with
// its own payload, then EOF.
// The reader acknowledged the server's SETTINGS before the server went on.
func TestQueueKeepsNewest(t *testing.T) {
	addr := fakeServer(t, expect(http2.FrameSettings, 0), sendSettings, expect(http2.FrameSettings, http2.FlagSettingsAck), func(_ net.Conn, fr *http2.Framer) error {
		for i := range 10 { // same sizes: a shared read buffer would show the last
			if err := fr.WriteData(1, false, fmt.Appendf(nil, "frame %d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	c := h2raw.Dial(t, addr, h2raw.Options{Frames: 4})
	if !c.Closed(5 * time.Second) {
		t.Fatal("connection still open")
	}
	if n := c.Dropped(); n != 7 {
		t.Errorf("dropped %d frames, want 7", n)
	}
	var got []string
	for range 4 {
		f, err := c.Next(time.Second)
		if df, ok := f.(*http2.DataFrame); err == nil && ok {
			got = append(got, string(df.Data()))
		} else {
			t.Fatalf("%v, %v; want DATA", f, err)
		}
	}
	if want := []string{"frame 6", "frame 7", "frame 8", "frame 9"}; !slices.Equal(got, want) {
		t.Errorf("queued %q, want %q", got, want)
	}
	if _, err := c.Next(time.Second); !errors.Is(err, io.EOF) || !errors.Is(c.Err(), io.EOF) {
		t.Errorf("after the last frame: %v (Err %v), want EOF", err, c.Err())
	}
}

// A SETTINGS ACK owed while a Write call runs follows the call, never
// splits it: HEADERS and its CONTINUATION stay together.
func TestWriteKeepsSequencesWhole(t *testing.T) {
	addr := fakeServer(t, expect(http2.FrameSettings, 0), expect(http2.FrameHeaders, 0), sendSettings,
		expect(http2.FrameContinuation, http2.FlagContinuationEndHeaders), expect(http2.FrameSettings, http2.FlagSettingsAck))
	c := h2raw.Dial(t, addr, h2raw.Options{})
	err := c.Write(func(fr *http2.Framer) error {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}}); err != nil {
			return err
		}
		// The reader has the server's SETTINGS (and owes its ACK) before
		// Next returns it; nothing else comes until the CONTINUATION.
		if f, err := c.Next(5 * time.Second); err != nil {
			return err
		} else if _, ok := f.(*http2.SettingsFrame); !ok {
			return fmt.Errorf("got %v, want SETTINGS", f)
		}
		if _, err := c.Next(20 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("before the CONTINUATION: %v, want nothing", err)
		}
		return fr.WriteContinuation(1, true, []byte{0x86})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Closed(5 * time.Second) {
		t.Error("the server did not end the connection")
	}
}

// SendGRPC keeps to the connection window: of two 40,000-byte messages
// (80,010 bytes with prefixes) it sends what fits the initial 65,535 bytes
// in 16 KiB frames, then waits for the server's WINDOW_UPDATE.
func TestSendKeepsToConnectionWindow(t *testing.T) {
	const size = 40_000
	addr := fakeServer(t, expect(http2.FrameSettings, 0), func(nc net.Conn, fr *http2.Framer) error {
		sum, ended := 0, 0
		// read takes frames until both streams ended or the client has been
		// silent for quiet; it counts DATA bytes.
		read := func(quiet time.Duration) error {
			for ended < 2 {
				_ = nc.SetReadDeadline(time.Now().Add(quiet))
				f, err := fr.ReadFrame()
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					return nil
				} else if err != nil {
					return err
				}
				if df, ok := f.(*http2.DataFrame); ok {
					sum += len(df.Data())
					if df.StreamEnded() {
						ended++
					}
				}
			}
			return nil
		}
		if err := read(300 * time.Millisecond); err != nil {
			return err
		}
		if sum > 65535 {
			return fmt.Errorf("%d bytes sent within a window of 65,535", sum)
		}
		if err := fr.WriteWindowUpdate(0, 65535); err != nil {
			return err
		}
		if err := read(5 * time.Second); err != nil {
			return err
		}
		if ended != 2 || sum != 2*(size+5) {
			return fmt.Errorf("%d streams ended, %d bytes; want 2 and %d", ended, sum, 2*(size+5))
		}
		return nil
	})
	c := h2raw.Dial(t, addr, h2raw.Options{})
	body := make([]byte, size)
	for range 2 {
		c.SendGRPC(c.OpenGRPC("/echo"), size, body, true)
	}
	if c.Closed(5 * time.Second); !errors.Is(c.Err(), io.EOF) {
		t.Errorf("connection: %v, want EOF from the fake server", c.Err())
	}
}

// Flood writes its units in one call, up to the limit, and none once stop
// is closed.
func TestFlood(t *testing.T) {
	addr := fakeServer(t, expect(http2.FrameSettings, 0), expect(http2.FrameHeaders, 0),
		expect(http2.FrameContinuation, 0), expect(http2.FrameContinuation, 0), expect(http2.FrameContinuation, 0))
	c := h2raw.Dial(t, addr, h2raw.Options{})
	if n := c.Flood(h2raw.ContinuationFlood, []byte{0x82}, 4, nil, 5*time.Second); n != 4 {
		t.Errorf("flood of 4 wrote %d", n)
	}
	stop := make(chan struct{})
	close(stop)
	if n := c.Flood(h2raw.ContinuationFlood, []byte{0x82}, 4, stop, 5*time.Second); n != 0 {
		t.Errorf("stopped flood wrote %d", n)
	}
	if !c.Closed(5 * time.Second) {
		t.Error("the server did not end the connection")
	}
}

// A header bomb is small on the wire and large decoded.
func TestBombFields(t *testing.T) {
	const refs = 1000
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	size := 0
	for _, hf := range h2raw.BombFields(refs) {
		if err := enc.WriteField(hf); err != nil {
			t.Fatal(err)
		}
		size += int(hf.Size())
	}
	if block.Len() > 5000 || size != refs*4038 {
		t.Errorf("%d fields: %d bytes encoded, %d decoded; want under 5,000 and %d", refs, block.Len(), size, refs*4038)
	}
}
