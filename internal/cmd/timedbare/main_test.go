package main

import (
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name, path string
		code       int
	}{
		{"time answers", "/time", 200},
		{"other paths are 404", "/x", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var req fasthttp.Request
			req.SetRequestURI(tc.path)
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, nil, nil)
			handler(&ctx)
			if code := ctx.Response.StatusCode(); code != tc.code {
				t.Fatalf("GET %s: %d, want %d", tc.path, code, tc.code)
			}
			if tc.code == 200 {
				body := ctx.Response.Body()
				if ms, err := strconv.ParseInt(string(body), 10, 64); err != nil || time.Since(time.UnixMilli(ms)) > time.Minute {
					t.Errorf("body %q is not a recent Unix-ms time", body)
				}
			}
		})
	}
}

// TestTimeouts checks the server carries the engine's default timeouts,
// the point of this command.
func TestTimeouts(t *testing.T) {
	s := newServer()
	if s.ReadTimeout != server.DefaultReadHeaderTimeout || s.WriteTimeout != server.DefaultWriteTimeout ||
		s.IdleTimeout != server.DefaultIdleTimeout || s.HeaderReceived == nil {
		t.Fatalf("timeouts %v/%v/%v, HeaderReceived set %v", s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.HeaderReceived != nil)
	}
	if got := s.HeaderReceived(nil).ReadTimeout; got != server.DefaultReadTimeout {
		t.Errorf("body read timeout %v, want %v", got, server.DefaultReadTimeout)
	}
}

func TestRunBadFlag(t *testing.T) {
	if code := run([]string{"-nope"}, io.Discard); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}
