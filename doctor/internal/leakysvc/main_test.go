package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEndpoints(t *testing.T) {
	s := newService()
	srv := httptest.NewServer(s.mux())
	defer srv.Close()
	defer s.release()
	tests := []struct {
		name string
		path string
		code int
	}{
		{"ok answers", "/ok", 200},
		{"leak answers (and leaks)", "/leak", 200},
		{"burn answers", "/burn", 200},
		{"alloc answers", "/alloc", 200},
		{"contend answers", "/contend", 200},
		{"pprof is mounted", "/debug/pprof/goroutine?debug=1", 200},
		{"unknown path", "/nope", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.code)
			}
		})
	}
	// /stuck blocks until release: the request must time out while held.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/stuck", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Error("/stuck answered while the pool lock is held")
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, "127.0.0.1:0") }()
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
