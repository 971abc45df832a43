package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"time answers with unix ms", "GET", "/time", 200},
		{"HEAD is allowed", "HEAD", "/time", 200},
		{"other paths are 404", "GET", "/", 404},
		{"POST is 405", "POST", "/time", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(tt.method)
			ctx.Request.SetRequestURI(tt.path)
			before := time.Now().UnixMilli()
			handler(&ctx)
			if got := ctx.Response.StatusCode(); got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
			if tt.status == 200 && tt.method == "GET" {
				ms, err := strconv.ParseInt(string(ctx.Response.Body()), 10, 64)
				if err != nil || ms < before || ms > time.Now().UnixMilli() {
					t.Fatalf("body %q is not the current unix ms", ctx.Response.Body())
				}
			}
		})
	}
}

func BenchmarkHandler(b *testing.B) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/time")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		handler(&ctx)
	}
}
