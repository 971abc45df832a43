package connlimit

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCoarseDeadline(t *testing.T) {
	base := time.Now()
	at := func(d time.Duration) time.Time { return base.Add(d) }
	const slack = 100 * time.Millisecond
	tests := []struct {
		name      string
		cur, want time.Time
		slack     time.Duration
		next      time.Time
		move      bool
	}{
		{"none armed, none wanted", time.Time{}, time.Time{}, slack, time.Time{}, false},
		{"none armed: arm want plus slack", time.Time{}, at(time.Second), slack, at(time.Second + slack), true},
		{"clear an armed deadline", at(time.Second), time.Time{}, slack, time.Time{}, true},
		{"armed equals want: keep", at(time.Second), at(time.Second), slack, at(time.Second), false},
		{"armed later within slack: keep", at(time.Second + slack), at(time.Second), slack, at(time.Second + slack), false},
		{"armed later beyond slack: move earlier", at(time.Second + slack + 1), at(time.Second), slack, at(time.Second + slack), true},
		{"armed earlier than want: move (never early)", at(time.Second - 1), at(time.Second), slack, at(time.Second + slack), true},
		{"want in the past: move", at(time.Second), at(-time.Hour), slack, at(-time.Hour + slack), true},
		{"no slack: exact", at(time.Second), at(time.Second + 1), 0, at(time.Second + 1), true},
		{"no slack, equal: keep", at(time.Second), at(time.Second), 0, at(time.Second), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, move := CoarseDeadline(tc.cur, tc.want, tc.slack)
			if !next.Equal(tc.next) || move != tc.move {
				t.Fatalf("CoarseDeadline = %v, %v; want %v, %v", next.Sub(base), move, tc.next.Sub(base), tc.move)
			}
			if !tc.want.IsZero() && (next.Before(tc.want) || next.Sub(tc.want) > tc.slack) {
				t.Fatalf("deadline %v outside [want, want+slack]", next.Sub(tc.want))
			}
		})
	}
}

func TestSlack(t *testing.T) {
	tests := []struct {
		name     string
		timeouts []time.Duration
		want     time.Duration
	}{
		{"defaults for reads", []time.Duration{5 * time.Second, 15 * time.Second, 120 * time.Second}, 625 * time.Millisecond},
		{"write default", []time.Duration{20 * time.Second}, 2500 * time.Millisecond},
		{"off ones ignored", []time.Duration{-1, 0, 800 * time.Millisecond}, 100 * time.Millisecond},
		{"all off", []time.Duration{-1, 0}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Slack(tc.timeouts...); got != tc.want {
				t.Fatalf("Slack(%v) = %v; want %v", tc.timeouts, got, tc.want)
			}
		})
	}
}

// TestLazyReadDeadline checks that a read deadline recorded while no Read
// runs governs the next Read, and one set during a Read interrupts it.
func TestLazyReadDeadline(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	ln := New(nil, 1, 10*time.Millisecond, 10*time.Millisecond)
	c := &Conn{Conn: a, l: ln, readSlack: ln.readSlack, writeSlack: ln.writeSlack}
	defer a.Close()

	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after a past deadline: %v; want os.ErrDeadlineExceeded", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	// Wait until the Read is in progress, then set a deadline: it must reach
	// the blocked Read.
	for {
		c.mu.Lock()
		n := c.reading
		c.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked Read: %v; want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline set during a Read did not end it")
	}
	// The write deadline is armed coarsely but at once.
	if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write after a past deadline: %v; want os.ErrDeadlineExceeded", err)
	}
}

// TestCapAndCloseConns: with a cap of 1 a second connection is not accepted
// until the first closes; CloseConns closes what is open; Close ends Accept.
func TestCapAndCloseConns(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(inner, 1, 0, 0)
	first, accepted, acceptDone := overCap(t, inner, l)
	if _, ok := first.(*Conn); !ok {
		t.Fatalf("Accept returned %T, want *Conn", first)
	}
	l.CloseConns() // closes the first: its slot frees, the second gets in
	if _, err := first.Read(make([]byte, 1)); err == nil {
		t.Fatal("CloseConns left the connection open")
	}
	select {
	case second := <-accepted:
		second.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the second connection was never accepted after the first closed")
	}
	l.Close()
	if err := <-acceptDone; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// overCap serves Accept of l (capped at one) in a goroutine, dials inner
// twice (both clients close when the test ends) and returns the first
// accepted connection after checking the second waits; accepted gets the
// second once a slot frees, acceptDone Accept's final error.
func overCap(t *testing.T, inner, l net.Listener) (first net.Conn, accepted <-chan net.Conn, acceptDone <-chan error) {
	t.Helper()
	acc := make(chan net.Conn, 2)
	done := make(chan error, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				done <- err
				return
			}
			acc <- c
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	first = <-acc
	select {
	case <-acc:
		t.Fatal("a second connection was accepted over the cap of 1")
	case <-time.After(100 * time.Millisecond):
	}
	return first, acc, done
}

// TestSecondCloseFreesNoSlot: closing a connection twice frees its slot once.
func TestSecondCloseFreesNoSlot(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	l := New(nil, 2, 0, 0)
	l.sem <- struct{}{} // this connection's slot
	l.sem <- struct{}{} // another connection's
	c := &Conn{Conn: a, l: l}
	l.conns[c] = struct{}{}
	c.Close()
	c.Close()
	if got := len(l.sem); got != 1 {
		t.Fatalf("%d slots taken after closing one of two connections twice, want 1", got)
	}
}

// Cap holds connections over the cap in the accept queue, frees a slot on
// the first Close, keeps SyscallConn and CloseWrite, and passes deadlines to
// the socket at once: a deadline set while nothing reads still interrupts a
// raw read that bypasses Read (what SetReadDeadlineNow on a Conn wrapped
// around it relies on).
func TestCapOnly(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Cap(inner, 1)
	defer l.Close()
	first, accepted, _ := overCap(t, inner, l)

	sc, ok := first.(syscall.Conn)
	if !ok {
		t.Fatalf("%T has no SyscallConn", first)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := first.(interface{ CloseWrite() error }); !ok {
		t.Fatalf("%T has no CloseWrite", first)
	}
	rawDone := make(chan error, 1)
	go func() {
		var b [1]byte
		rawDone <- rc.Read(func(fd uintptr) bool {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return !errors.Is(err, syscall.EAGAIN)
		})
	}()
	time.Sleep(20 * time.Millisecond) // let the raw read park (a late deadline interrupts it too)
	if err := first.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-rawDone:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("raw read ended with %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline set on the connection did not reach the socket")
	}

	first.Close()
	first.Close() // a second Close frees no second slot
	select {
	case second := <-accepted:
		second.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("closing the first connection did not free its slot")
	}
}
