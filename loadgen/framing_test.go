package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestFramingHeaders: bench frames the body itself, so a -H that frames it
// differently is refused before any traffic. A Content-Length shorter than
// the body once desynchronised HTTP/1.1 connections (the rest of the body
// was read as the next request: 4 of 5 answers were 405), and a
// Transfer-Encoding made every request wait for chunks until --timeout.
func TestFramingHeaders(t *testing.T) {
	t.Parallel()
	var bad atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); string(b) != "hello" || r.Method != http.MethodPost {
			bad.Add(1)
		}
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true) // for the h2c cases
	srv.Start()
	t.Cleanup(srv.Close)
	tests := []struct {
		name    string
		header  Header
		h2c     bool
		wantErr bool
	}{
		{"Content-Length equal to the body is kept", Header{"Content-Length", "5"}, false, false},
		{"Content-Length equal to the body, h2c", Header{"content-length", "5"}, true, false},
		{"Content-Length shorter than the body is refused", Header{"Content-Length", "3"}, false, true},
		{"Content-Length longer than the body is refused", Header{"Content-Length", "9"}, false, true},
		{"Content-Length not a number is refused", Header{"Content-Length", "five"}, false, true},
		{"Content-Length mismatch refused on h2c too", Header{"Content-Length", "3"}, true, true},
		{"Transfer-Encoding is refused", Header{"Transfer-Encoding", "chunked"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := Run(context.Background(), Config{URL: srv.URL, Method: "POST", Body: []byte("hello"),
				Headers: []Header{tt.header}, H2C: tt.h2c, Connections: 1, Requests: 20})
			if tt.wantErr {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Successes != 20 {
				t.Errorf("ok %d of 20, status %v, errors %v", res.Successes, res.Status, res.ErrorClasses)
			}
		})
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("server saw %d requests that were not POST with body \"hello\"", n)
	}
}
