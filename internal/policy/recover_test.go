package policy

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// syncBuf is a goroutine-safe bytes.Buffer for log output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRecover(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		handler    http.HandlerFunc
		wantCode   int
		wantLogged bool
		wantBody   string
	}{
		{"panic before writing: 500", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Partial", "dropped")
			panic("boom")
		}, 500, true, "internal server error\n"},
		{"panic with an error value: 500", func(w http.ResponseWriter, r *http.Request) {
			panic(errors.New("bad state"))
		}, 500, true, "internal server error\n"},
		{"no panic: untouched", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTeapot)
		}, http.StatusTeapot, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuf
			h := Chain(Recover(slog.New(slog.NewTextHandler(&logs, nil))), RequestID())(c.handler)
			rec := serve(h, httptest.NewRequest("GET", "/p", nil))
			if rec.Code != c.wantCode {
				t.Errorf("code = %d, want %d", rec.Code, c.wantCode)
			}
			if rec.Body.String() != c.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), c.wantBody)
			}
			if rec.Header().Get("X-Partial") != "" {
				t.Error("headers set before the panic leaked into the 500")
			}
			if c.wantCode == 500 && rec.Header().Get(RequestIDHeader) == "" {
				t.Error("500 lost the request ID")
			}
			log := logs.String()
			if got := strings.Count(log, "panic serving request"); c.wantLogged != (got == 1) || got > 1 {
				t.Errorf("logged %d times, want logged=%v once:\n%s", got, c.wantLogged, log)
			}
			if c.wantLogged && (!strings.Contains(log, "recover_test.go") || !strings.Contains(log, "request_id="+rec.Header().Get(RequestIDHeader))) {
				t.Errorf("log lacks the stack or the request ID:\n%s", log)
			}
		})
	}
}

func TestRecoverRepanicsAbort(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	h := Recover(slog.New(slog.NewTextHandler(&logs, nil)))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler re-panicked", v)
		}
		if logs.String() != "" {
			t.Errorf("ErrAbortHandler was logged: %s", logs.String())
		}
	}()
	serve(h, httptest.NewRequest("GET", "/", nil))
}

func TestRecoverAfterWriteAborts(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	h := Recover(slog.New(slog.NewTextHandler(&logs, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "half")
		panic("late")
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler so the connection is closed", v)
		}
		if strings.Count(logs.String(), "panic serving request") != 1 {
			t.Errorf("want the panic logged once:\n%s", logs.String())
		}
	}()
	serve(h, httptest.NewRequest("GET", "/", nil))
}

// TestRecoverKeepsServing runs a real server: a panic answers 500 and the
// next request (same server, same handler) is served normally.
func TestRecoverKeepsServing(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	h := Recover(slog.New(slog.NewTextHandler(&logs, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/late":
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("late boom")
		}
		_, _ = io.WriteString(w, "fine")
	}))
	srv := newServer(t, h)
	c := srv.Client()
	if code, body, _ := get(t, c, srv.URL+"/panic"); code != 500 || body != "internal server error\n" {
		t.Errorf("panic: %d %q, want 500", code, body)
	}
	if code, body, _ := get(t, c, srv.URL+"/ok"); code != 200 || body != "fine" {
		t.Errorf("after panic: %d %q, want 200 fine", code, body)
	}
	resp, err := c.Get(srv.URL + "/late")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("panic after the response started: client read a complete response, want a broken one")
	}
	if code, _, _ := get(t, c, srv.URL+"/ok"); code != 200 {
		t.Errorf("after late panic: %d, want 200", code)
	}
	if n := strings.Count(logs.String(), "panic serving request"); n != 2 {
		t.Errorf("logged %d panics, want 2", n)
	}
}
