package portmux

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// acceptAll hands every connection the listener accepts to the channel.
func acceptAll(l net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(ch)
				return
			}
			ch <- c
		}
	}()
	return ch
}

// writeH2CRequest writes the HTTP/2 preface, SETTINGS and a plain (non-gRPC)
// GET on stream 1.
func writeH2CRequest(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.WriteString(c, preface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/time"}, {":authority", "x"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
}

// With HTTP1Only, a plain h2c connection is answered with GOAWAY
// HTTP_1_1_REQUIRED and closed without reaching the HTTP listener; an
// HTTP/1.1 connection still reaches it.
func TestHTTP1OnlyRefusesH2C(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, h := Split(ln, Options{HTTP1Only: true})
	defer g.Close()
	defer h.Close()
	httpConns := acceptAll(h)

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	writeH2CRequest(t, c)
	fr := http2.NewFramer(io.Discard, c)
	var goaway *http2.GoAwayFrame
	for goaway == nil {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the mux's answer: %v (want SETTINGS, then GOAWAY)", err)
		}
		goaway, _ = f.(*http2.GoAwayFrame)
	}
	if goaway.ErrCode != http2.ErrCodeHTTP11Required || len(goaway.DebugData()) == 0 {
		t.Errorf("GOAWAY code %v, debug %q; want HTTP_1_1_REQUIRED with a reason", goaway.ErrCode, goaway.DebugData())
	}
	if _, err := fr.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("after GOAWAY: %v, want EOF", err)
	}

	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if _, err := io.WriteString(c1, "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case hc := <-httpConns:
		defer hc.Close()
		if pc, ok := hc.(*Conn); !ok || pc.isH2() {
			t.Fatalf("HTTP/1.1 connection handed out as %T (h2 %v)", hc, ok && pc.isH2())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the HTTP/1.1 connection never reached the HTTP listener (was the h2c one?)")
	}
}

// SyscallConn hands out the socket only once the replayed bytes are read:
// before, the socket's next bytes are not the connection's.
func TestSyscallConnAfterReplay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, h := Split(ln, Options{})
	defer g.Close()
	defer h.Close()
	httpConns := acceptAll(h)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	hc := <-httpConns
	defer hc.Close()
	sc, ok := hc.(syscall.Conn)
	if !ok {
		t.Fatalf("%T has no SyscallConn", hc)
	}
	if _, err := sc.SyscallConn(); err == nil {
		t.Fatal("SyscallConn with replayed bytes pending: want an error")
	}
	buf := make([]byte, len(req))
	if _, err := io.ReadFull(hc, buf); err != nil || string(buf) != req {
		t.Fatalf("read %q, %v", buf, err)
	}
	if _, err := sc.SyscallConn(); err != nil {
		t.Fatalf("SyscallConn after the replay: %v", err)
	}
}
