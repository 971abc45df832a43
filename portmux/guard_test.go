package portmux

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// grpcHeaders is a gRPC call's header block for stream id.
func grpcHeaders(t *testing.T) []byte {
	t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range grpcFields("application/grpc") {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return block.Bytes()
}

// expectCalm takes frames until the connection ends and fails the test
// unless a GOAWAY with ENHANCE_YOUR_CALM came before the end, within d.
func expectCalm(t *testing.T, r *h2raw.Conn, d time.Duration) {
	t.Helper()
	calm, err := r.UntilClosed(d)
	if !calm {
		t.Fatalf("connection ended (%v) without GOAWAY ENHANCE_YOUR_CALM", err)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("GOAWAY came but the connection stayed open for %v", d)
	}
}

// Each flood is cut off with GOAWAY(ENHANCE_YOUR_CALM) on both sides of
// the port: after a first gRPC request (grpc-go's transport) and after a
// first plain request (net/http's HTTP/2 server).
func TestFloodsAreCutOff(t *testing.T) {
	const frames = 200_000 // far past every budget; a flood of 10 s sends millions
	for _, side := range []string{"grpc", "http"} {
		for _, fl := range append(slices.Clone(h2raw.Floods), h2raw.Flood{Name: "empty DATA", Write: h2raw.EmptyDataFlood}) {
			t.Run(side+"/"+fl.Name, func(t *testing.T) {
				s := startShared(t, Options{}, false)
				r := dialRaw(t, s)
				block := grpcHeaders(t)
				if side == "http" {
					get(t, r, 1, "/proto")
				} else if err := r.Write(func(fr *http2.Framer) error {
					return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true})
				}); err != nil {
					t.Fatal(err)
				}
				done := make(chan int, 1)
				go func() { done <- r.Flood(fl.Write, block, frames, nil, 10*time.Second) }()
				expectCalm(t, r, 10*time.Second)
				if n := <-done; n == frames {
					t.Errorf("all %d frames were accepted", frames)
				}
				select {
				case err := <-s.errs:
					if !errors.Is(err, ErrFlood) {
						t.Errorf("OnError: %v, want ErrFlood", err)
					}
				case <-time.After(5 * time.Second):
					t.Error("OnError was not told")
				}
			})
		}
	}
}

// Ordinary traffic stays far inside the budgets: many calls, with some
// cancelled, on one connection.
func TestOrdinaryTrafficIsNotAFlood(t *testing.T) {
	s := startShared(t, Options{}, false)
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := hotpathv1.NewTimeServiceClient(conn)
	for i := range 300 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if i%3 == 0 { // a cancelled call: RST_STREAM from the client
			cctx, ccancel := context.WithCancel(ctx)
			ccancel()
			_, _ = c.Now(cctx, &hotpathv1.NowRequest{})
		}
		_, err := c.Now(ctx, &hotpathv1.NowRequest{})
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		for len(s.authTyp) > 0 {
			<-s.authTyp
		}
	}
	select {
	case err := <-s.errs:
		t.Errorf("OnError: %v", err)
	default:
	}
}

// The guard's counting: a window resets the counts; resets count as a
// flood only when they outnumber half the streams opened.
func TestGuardBudgets(t *testing.T) {
	now := time.Unix(0, 0)
	g := &guard{limits: FloodLimits{Settings: 2, Resets: 3}.withDefaults(), now: func() time.Time { return now }}
	g.c = &Conn{Conn: nopConn{}}
	hdr := func(typ, flags byte, stream uint32) []byte {
		return []byte{0, 0, 0, typ, flags, byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	}
	settings := hdr(frameSettings, 0, 0)
	if g.observe(settings) != nil || g.observe(settings) != nil {
		t.Fatal("two SETTINGS within a budget of 2 tripped")
	}
	now = now.Add(time.Second)
	if g.observe(settings) != nil || g.observe(settings) != nil {
		t.Fatal("the window did not reset")
	}
	if g.observe(hdr(frameSettings, flagAck, 0)) != nil {
		t.Fatal("a SETTINGS ACK counted")
	}
	// 10 streams opened, 5 reset: over the budget of 3 but not over half.
	for i := range 10 {
		_ = g.observe(hdr(frameHeaders, flagEndHeaders, uint32(2*i+1)))
	}
	for i := range 5 {
		if err := g.observe(hdr(frameRSTStream, 0, uint32(2*i+1))); err != nil {
			t.Fatalf("reset %d of 10 streams tripped: %v", i, err)
		}
	}
	if err := g.observe(hdr(frameRSTStream, 0, 11)); err == nil || !strings.Contains(err.Error(), "RST_STREAM") {
		t.Fatalf("6 resets of 10 streams: %v, want a flood", err)
	}
}

// FuzzFrameWalker: how a stream is cut into pieces never changes the frame
// headers the walker reports.
func FuzzFrameWalker(f *testing.F) {
	f.Add([]byte(preface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x03\x01\x04\x00\x00\x00\x01abc"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		run := func(step int) [][frameHeaderLen]byte {
			var out [][frameHeaderLen]byte
			w := frameWalker{pre: len(preface)}
			for b := in; len(b) > 0; {
				n := min(step, len(b))
				w.walk(b[:n], func(h *[frameHeaderLen]byte) bool { out = append(out, *h); return true })
				b = b[n:]
			}
			return out
		}
		whole, cut := run(len(in)+1), run(int(chunk%16)+1)
		if len(whole) != len(cut) {
			t.Fatalf("%d frames whole, %d cut", len(whole), len(cut))
		}
		for i := range whole {
			if whole[i] != cut[i] {
				t.Fatalf("frame %d: %x vs %x", i, whole[i], cut[i])
			}
		}
	})
}

// nopConn is a net.Conn that accepts writes and reads nothing.
type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (nopConn) Close() error                     { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }
func (nopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (nopConn) SetReadDeadline(time.Time) error  { return nil }
func (nopConn) Read([]byte) (int, error)         { return 0, io.EOF }
