package server_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/internal/hostile"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

func newEngine(cfg server.Config) (server.Engine, error) {
	s, err := server.New(cfg)
	if err == nil {
		service.Register(s)
	}
	return s, err
}

// TestHostileHTTP1 runs the engine-level HTTP/1.1 hostile-client suite
// against the net/http engine. It must not run in parallel: the slowloris
// case counts this process's goroutines and descriptors.
func TestHostileHTTP1(t *testing.T) {
	hostile.RunHTTP1(t, newEngine,
		hostile.Except("Transfer-Encoding with obs-fold",
			"net/textproto unfolds the continuation line into \"Transfer-Encoding: chunked\" before any "+
				"handler runs (RFC 9112 §5.2 allows replacing obs-fold with SP), so the request is read as "+
				"chunked, answered, and its connection closed like every Transfer-Encoding request "+
				"(TestObsFoldTransferEncodingCloses): nothing pipelined behind it is answered"),
		hostile.Except("bare LF line endings", bareLF),
		hostile.Except("bare LF line endings with a request behind", bareLF),
	)
}

const bareLF = "net/textproto takes a bare LF as a line end, which RFC 9112 §2.2 allows (MAY); the request is " +
	"served at once and framed as every LF-tolerant reader frames it, so a request behind it is a real " +
	"second request; rejecting it would mean re-parsing every request line and header in front of net/http"

// TestObsFoldTransferEncodingCloses is the net/http engine's side of the
// suite's excepted obs-fold case: a Transfer-Encoding folded onto a
// continuation line, next to a Content-Length, is read as chunked (as
// net/textproto unfolds it) and then the connection closes, so the
// request pipelined behind it is never answered.
func TestObsFoldTransferEncodingCloses(t *testing.T) {
	s, err := server.New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff})
	if err != nil {
		t.Fatal(err)
	}
	service.Register(s)
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
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" +
		"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || len(body) != 0 || !res.Close {
		t.Errorf("folded Transfer-Encoding: %d %q, Connection: close %v; want 200, the empty chunked body, close", res.StatusCode, body, res.Close)
	}
	rest, err := io.ReadAll(br)
	if len(rest) != 0 || err != nil {
		t.Errorf("after the response: %q, %v; want the connection closed with nothing more", rest, err)
	}
}
