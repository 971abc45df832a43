package nbioengine

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
)

// The graceful shutdown lets a response that nbio still holds unsent
// reach its client (within ShutdownTimeout), as net/http does: the
// handler has returned, but the connection is not idle until the client
// has the answer. Until 2026-12-07 the drain closed such a connection at
// once: an 8 MiB echo to a client that paused arrived as 2.8 MiB, and the
// shutdown reported success.
func TestShutdownDeliversUnsentResponse(t *testing.T) {
	if !hasWriteList {
		t.Fatal("nbio.Conn has no writeList field any more: unsent cannot see nbio's queue (see conns.go)")
	}
	const size = 8 << 20
	addr, stop, done := launchEngine(t, server.Config{MaxBodyBytes: 16 << 20, ShutdownTimeout: 10 * time.Second}, nil)
	defer stop()

	// A small receive buffer from the start (set after the handshake, the
	// window shrinks under the server's feet and the kernel stalls the
	// stream): nbio has to hold most of the echo.
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	body := strings.Repeat("d", size)
	sent := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"+body)
		sent <- err
	}()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// The whole request is in: the handler echoes it at once, and nbio
	// holds most of the echo (the client has read nothing). Then the
	// shutdown starts; the client reads only after it has.
	time.Sleep(300 * time.Millisecond)
	stop() // SIGTERM's path: Run drains and returns
	time.Sleep(300 * time.Millisecond)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Errorf("echo: %d of %d bytes (%v): cut off by the shutdown", n, size, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v, want nil (nothing was cut off)", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
}
