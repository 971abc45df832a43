package nbioengine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"syscall"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// runEngine is startEngine without a setup.
func runEngine(t *testing.T, cfg server.Config) string { return startEngine(t, cfg, nil) }

func dialEngine(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// A HEAD answer without a body must not be followed by a chunked
// terminator: the next response on the connection would start with "0".
func TestHeadRedirectHasNoBody(t *testing.T) {
	addr := runEngine(t, server.Config{})
	c, br := dialEngine(t, addr)
	if _, err := io.WriteString(c, "HEAD //time HTTP/1.1\r\nHost: x\r\n\r\nGET /time HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	head, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode/100 != 3 || len(head.TransferEncoding) != 0 {
		t.Fatalf("HEAD //time: %d, Transfer-Encoding %q; want a redirect without", head.StatusCode, head.TransferEncoding)
	}
	next, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the response after HEAD: %v (the connection is out of step)", err)
	}
	next.Body.Close()
	if next.StatusCode != 200 {
		t.Fatalf("GET /time after HEAD: %d", next.StatusCode)
	}
}

// Expect: 100-continue within the limit gets 100 Continue before the body
// is sent (nbio sends none, so the client would wait).
func TestExpectContinue(t *testing.T) {
	addr := runEngine(t, server.Config{})
	c, br := dialEngine(t, addr)
	if _, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	line, err := textproto.NewReader(br).ReadLine()
	if err != nil || line != "HTTP/1.1 100 Continue" {
		t.Fatalf("first line %q, %v; want 100 Continue before the body", line, err)
	}
	if _, err := textproto.NewReader(br).ReadLine(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || string(body) != "hello" {
		t.Fatalf("echo after 100: %d %q %v", res.StatusCode, body, err)
	}
}

// A request pipelined behind another runs after the first response armed
// the idle timeout; it must not be cut by it while it runs.
func TestPipelinedRequestOutlivesIdleTimeout(t *testing.T) {
	addr := runEngine(t, server.Config{IdleTimeout: 200 * time.Millisecond})
	c, br := dialEngine(t, addr)
	if _, err := io.WriteString(c, "GET /time HTTP/1.1\r\nHost: x\r\n\r\nGET /delay?ms=700 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 200} {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("response %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}
}

// Connections that declare bodies over the limit get 413 as soon as their
// heads arrive and are closed: nothing waits for (or buffers) the bodies.
// The hostile run had 100 such connections hold 419 MB for two minutes.
func TestDeclaredOversizeBodiesRefusedAtOnce(t *testing.T) {
	const conns = 100
	addr := runEngine(t, server.Config{MaxBodyBytes: 1 << 20})
	head := "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2254857\r\n\r\n"
	part := make([]byte, 64<<10)
	errs := make(chan error, conns)
	for range conns {
		go func() {
			errs <- func() error {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(append([]byte(head), part...)); err != nil {
					return err
				}
				br := bufio.NewReader(c)
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					return err
				}
				res.Body.Close()
				if res.StatusCode != http.StatusRequestEntityTooLarge || !res.Close {
					return fmt.Errorf("status %d, close %v; want 413 and a close", res.StatusCode, res.Close)
				}
				if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
					return fmt.Errorf("after the 413: %v; want the connection closed", err)
				}
				return nil
			}()
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// Flush without a Content-Length streams: the client has the first part
// while the handler still runs, framed in chunks this engine writes itself
// (never nbio's chunked writer), and the connection stays usable after.
func TestFlushStreamsChunks(t *testing.T) {
	cfg := server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	service.Register(s)
	release := make(chan struct{})
	s.Handle("GET /stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second")
	}))
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
	c, br := dialEngine(t, s.Addr().String())
	if _, err := io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
		t.Fatalf("Transfer-Encoding %q; want chunked", res.TransferEncoding)
	}
	first := make([]byte, len("first "))
	if _, err := io.ReadFull(res.Body, first); err != nil || string(first) != "first " {
		t.Fatalf("before the handler returned: %q, %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(res.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	res.Body.Close()
	if _, err := io.WriteString(c, "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	next, err := http.ReadResponse(br, nil)
	if err != nil || next.StatusCode != 200 {
		t.Fatalf("the next request on the connection: %v, %v", next, err)
	}
	next.Body.Close()
}

// A response whose header says Connection: close ends the connection, as on
// net/http, whoever set the header: the chain's CloseAfterChunked sets it
// for a chunked request (a smuggling guard). The request pipelined behind
// is not answered. (Until 2026-12-07 nbio answered it and kept the
// connection open.)
func TestResponseConnectionCloseEndsConnection(t *testing.T) {
	addr := runEngine(t, server.Config{})
	for _, req := range []string{
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /time HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		c, br := dialEngine(t, addr)
		if _, err := io.WriteString(c, req+"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !resp.Close {
			t.Errorf("%q: %d without Connection: close", req, resp.StatusCode)
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
			t.Errorf("%q: after the Connection: close response: %q, %v; want the connection closed", req, rest, err)
		}
	}
}
