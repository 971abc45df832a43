package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/rpc"
)

func TestProxyTranscodesToBackend(t *testing.T) {
	s, err := rpc.New(rpc.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	defer func() { s.Stop(); <-done }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := handler(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/time", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "unixMs") {
		t.Fatalf("GET /v1/time through the proxy: %d %s", rec.Code, rec.Body)
	}
}
