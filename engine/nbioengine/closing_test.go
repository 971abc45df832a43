package nbioengine

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// startEngine runs an nbio engine on 127.0.0.1:0 with the admin listener off
// until the test ends; setup (optional) mounts more before it listens.
// Cleanup stops it and fails the test if Run did not return nil.
func startEngine(t *testing.T, cfg server.Config, setup func(*server.Server)) string {
	t.Helper()
	addr, stop, done := launchEngine(t, cfg, setup)
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return addr
}

// launchEngine is startEngine for a test that stops the engine itself: it
// returns the address, the stop function (SIGTERM's path: Run drains and
// returns) and Run's result, which the caller waits for.
func launchEngine(t *testing.T, cfg server.Config, setup func(*server.Server)) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:0", server.AdminOff
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	service.Register(s)
	if setup != nil {
		setup(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s.Addr().String(), cancel, done
}

// dialSend opens a connection to addr, writes raw on it and gives reads a
// 10 s deadline; the connection is closed when the test ends.
func dialSend(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

// TestNoStaleEventCloses opens a new connection right after each
// Connection: close exchange, 2,000 times. Before closing.go, nbio closed the
// new connection, unanswered, when it reused the descriptor of the old one
// while a poller still held the old one's hang-up event: 3 to 7 of 2,000
// requests failed with EOF (four runs).
func TestNoStaleEventCloses(t *testing.T) {
	addr := startEngine(t, server.Config{}, nil)
	closing := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	failed := 0
	for i := 0; i < 2000; i++ {
		res, err := closing.Get("http://" + addr + "/time")
		if err != nil {
			t.Fatalf("request %d with Connection: close: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		tr := &http.Transport{}
		res, err = (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/json")
		if err != nil {
			failed++
			t.Logf("request %d on a new connection: %v", i, err)
		} else {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		tr.CloseIdleConnections()
	}
	if failed > 0 {
		t.Fatalf("%d of 2000 new connections failed", failed)
	}
}

// TestPipelinedAfterCloseNotRun: a request pipelined behind one with
// Connection: close is neither answered nor handled.
func TestPipelinedAfterCloseNotRun(t *testing.T) {
	var ran atomic.Int64
	addr := startEngine(t, server.Config{}, func(s *server.Server) {
		s.Handle("POST /count", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ran.Add(1)
			w.Write([]byte("counted"))
		}))
	})
	c := dialSend(t, addr, "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"+
		"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"+
		"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(body) != "counted" || !res.Close {
		t.Fatalf("first response %d %q close=%v; want 200 counted, Connection: close", res.StatusCode, body, res.Close)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the first response: %q, %v; want end of stream", rest, err)
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}

// TestLingeringCloseIsBounded: a client that keeps its side open after a
// Connection: close response is cut after lingerTimeout, so it does not hold
// a connection slot until the idle timeout (2 minutes). With a cap of one
// connection, a second client is served only once the first is closed.
func TestLingeringCloseIsBounded(t *testing.T) {
	addr := startEngine(t, server.Config{MaxConnections: 1}, nil)
	first := dialSend(t, addr, "GET /time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if _, err := io.ReadAll(first); err != nil { // the response, then the server's FIN
		t.Fatal(err)
	}
	// first stays open and silent.
	start := time.Now()
	second := dialSend(t, addr, "GET /time HTTP/1.1\r\nHost: x\r\n\r\n") // waits in the accept queue
	res, err := http.ReadResponse(bufio.NewReader(second), nil)
	if err != nil {
		t.Fatalf("second connection not served within 10s (%v): the first still holds the only slot", err)
	}
	res.Body.Close()
	t.Logf("second connection served after %v (lingerTimeout %v)", time.Since(start), lingerTimeout)
}
