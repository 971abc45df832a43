package connlimit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// refuseEarly accepts one connection from l, reads the first 100 bytes of
// what the client sends, waits until more of it has arrived, answers and
// closes: what fasthttp does with a request whose headers are too large.
func refuseEarly(t *testing.T, l net.Listener, closed chan<- struct{}) {
	c, err := l.Accept()
	if err != nil {
		t.Error(err)
		close(closed)
		return
	}
	io.ReadFull(c, make([]byte, 100))
	time.Sleep(50 * time.Millisecond) // let unread bytes pile up
	c.Write([]byte("HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"))
	c.Close()
	close(closed)
}

// sendAndRead writes 256 KiB (stopping at the first write error), then reads
// the answer.
func sendAndRead(addr string) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	chunk := bytes.Repeat([]byte("h"), 16<<10)
	for i := 0; i < 16; i++ {
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return io.ReadAll(c)
}

// TestLingeringClose: a server that answers and closes while the client is
// still sending makes the kernel reset the connection, and the client loses
// the answer; with WithLingeringClose the client reads it, the slot is
// given back once the linger ends, and no goroutine stays (goleak).
func TestLingeringClose(t *testing.T) {
	for _, tc := range []struct {
		name    string
		linger  time.Duration
		wantErr bool
	}{
		{"plain close resets", 0, true},
		{"lingering close delivers the answer", 500 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := New(ln, 1, 0, 0, WithLingeringClose(tc.linger))
			defer l.Close()
			closed := make(chan struct{})
			go refuseEarly(t, l, closed)
			got, err := sendAndRead(ln.Addr().String())
			<-closed
			if tc.wantErr {
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("plain close: read %q, %v; want a reset (the problem this option solves)", got, err)
				}
				return
			}
			if err != nil || !bytes.HasPrefix(got, []byte("HTTP/1.1 431")) {
				t.Fatalf("read %q, %v; want the 431 and EOF", got, err)
			}
			// The client closed: the linger ends and the slot is free again.
			select {
			case l.sem <- struct{}{}:
				<-l.sem
			case <-time.After(3 * time.Second):
				t.Fatal("slot not given back after the linger")
			}
		})
	}
}

// TestLingeringCloseBounded: a client that keeps its side open and silent
// holds the connection for the linger time only; CloseConns (a hard stop)
// ends a linger at once.
func TestLingeringCloseBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, 1, 0, 0, WithLingeringClose(200*time.Millisecond))
	defer l.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := dial()
	defer c1.Close()
	s1, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s1.Close()
	// The client sees the FIN at once...
	c1.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c1.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read %d, %v; want EOF (write side shut)", n, err)
	}
	// ...and the slot comes back once the linger times out.
	select {
	case l.sem <- struct{}{}:
		<-l.sem
	case <-time.After(3 * time.Second):
		t.Fatal("slot not given back")
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("slot back after %v; the linger is 200ms", waited)
	}

	// A hard stop ends a linger at once.
	c2 := dial()
	defer c2.Close()
	s2, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l.linger = time.Minute // only CloseConns can end this one in time
	s2.Close()
	l.CloseConns()
	select {
	case l.sem <- struct{}{}:
		<-l.sem
	case <-time.After(3 * time.Second):
		t.Fatal("CloseConns did not end the linger")
	}
}
