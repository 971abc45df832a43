package fasthttpengine

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
)

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
			next, move := coarseDeadline(tc.cur, tc.want, tc.slack)
			if !next.Equal(tc.next) || move != tc.move {
				t.Fatalf("coarseDeadline = %v, %v; want %v, %v", next.Sub(base), move, tc.next.Sub(base), tc.move)
			}
			if !tc.want.IsZero() && (next.Before(tc.want) || next.Sub(tc.want) > tc.slack) {
				t.Fatalf("deadline %v outside [want, want+slack]", next.Sub(tc.want))
			}
		})
	}
}

func TestDeadlineSlack(t *testing.T) {
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
			if got := deadlineSlack(tc.timeouts...); got != tc.want {
				t.Fatalf("deadlineSlack(%v) = %v; want %v", tc.timeouts, got, tc.want)
			}
		})
	}
}

// TestLazyReadDeadline checks that a read deadline recorded while no Read
// runs governs the next Read, and one set during a Read interrupts it.
func TestLazyReadDeadline(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	ln := newLimitListener(nil, 1, 10*time.Millisecond, 10*time.Millisecond)
	c := &limitConn{Conn: a, l: ln, readSlack: ln.readSlack, writeSlack: ln.writeSlack}
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

// TestTimeoutsFire checks, through a running engine, that the coarse
// deadlines still close connections that stall: never before the timeout,
// and at all (the client waits much longer than timeout plus slack).
func TestTimeoutsFire(t *testing.T) {
	const (
		readHeader = 200 * time.Millisecond
		read       = 400 * time.Millisecond
		idle       = 300 * time.Millisecond
	)
	s, err := New(server.Config{
		Addr: "127.0.0.1:0", AdminAddr: server.AdminOff,
		ReadHeaderTimeout: readHeader, ReadTimeout: read, IdleTimeout: idle,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	addr := s.Addr().String()
	const request = "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"

	tests := []struct {
		name    string
		first   bool   // complete one request first (keep-alive connection)
		send    string // then send this and stall
		timeout time.Duration
	}{
		{"read-header timeout on a new connection", false, "GET /time HTTP/1.1\r\nHost:", readHeader},
		{"idle timeout after a request", true, "", idle},
		{"read-header timeout on a kept-alive connection", true, "GET /time HTTP/1.1\r\nHost:", readHeader},
		{"read timeout for the body", false, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", read},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			if tc.first {
				if _, err := io.WriteString(c, request); err != nil {
					t.Fatal(err)
				}
				line, err := br.ReadString('\n')
				if err != nil || !strings.Contains(line, " 200 ") {
					t.Fatalf("first request: %q, %v", line, err)
				}
				// Drain the rest of the response: headers then a short body.
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						t.Fatal(err)
					}
					if l == "\r\n" {
						break
					}
				}
			}
			var start time.Time
			if tc.send != "" {
				start = time.Now()
				if _, err := io.WriteString(c, tc.send); err != nil {
					t.Fatal(err)
				}
			} else {
				start = time.Now() // the response headers were just read: idle from about now
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, br) // until the server closes
			elapsed := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server did not close the stalled connection within 10 s (timeout %v)", tc.timeout)
			}
			if elapsed < tc.timeout-20*time.Millisecond {
				t.Fatalf("closed after %v; the %v timeout fired early", elapsed, tc.timeout)
			}
		})
	}
}

func TestHeaderReceived(t *testing.T) {
	s, err := New(server.Config{AdminAddr: server.AdminOff, ReadTimeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.closeAll()
	tests := []struct {
		name, head string
		want       time.Duration
	}{
		{"GET without a body keeps the read-header deadline", "GET /time HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"Content-Length 0", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0},
		{"a body gets the read timeout", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 7 * time.Second},
		{"a chunked body gets the read timeout", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			if err := h.Read(bufio.NewReader(strings.NewReader(tc.head))); err != nil {
				t.Fatal(err)
			}
			if got := s.headerReceived(&h).ReadTimeout; got != tc.want {
				t.Fatalf("ReadTimeout %v; want %v", got, tc.want)
			}
		})
	}
}
