package connlimit

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// countingConn counts the deadlines that reach the connection under Conn.
type countingConn struct {
	net.Conn
	writeMoves int
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.writeMoves++
	return c.Conn.SetWriteDeadline(t)
}

// TestLazyWriteDeadline: net/http sets the write deadline when a request's
// headers are read and clears it after the response; on a keep-alive
// connection those moves must not reach the socket for every request, yet
// every Write runs under the deadline last set and a deadline set during a
// blocked Write ends it.
func TestLazyWriteDeadline(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	defer a.Close()
	go func() { // drain what the requests write
		buf := make([]byte, 64)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	cc := &countingConn{Conn: a}
	c := &Conn{Conn: cc, writeSlack: time.Minute}

	const requests = 100
	for range requests {
		if err := c.SetWriteDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("response")); err != nil {
			t.Fatal(err)
		}
		if err := c.SetWriteDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// The first Write arms the deadline a slack late; the later ones are
	// within it. Armed at every move it would be 2 per request.
	if cc.writeMoves != 1 {
		t.Errorf("%d requests moved the socket's write deadline %d times; want 1", requests, cc.writeMoves)
	}

	// A deadline more than the slack in the past reaches the next Write.
	if err := c.SetWriteDeadline(time.Now().Add(-2 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write after a past deadline: %v; want os.ErrDeadlineExceeded", err)
	}
}

// TestWriteDeadlineDuringWrite: a deadline set while a Write is blocked (the
// peer reads nothing) is armed at once and ends that Write.
func TestWriteDeadlineDuringWrite(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	defer a.Close()
	c := &Conn{Conn: a, writeSlack: 10 * time.Millisecond}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("nobody reads this"))
		errc <- err
	}()
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		n := c.writing
		c.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the Write never started")
		}
	}
	if err := c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked Write: %v; want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline set during a Write did not end it")
	}
}
