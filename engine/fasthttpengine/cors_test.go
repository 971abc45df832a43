package fasthttpengine

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// TestCORSMatchesNetHTTP sends the same CORS requests to this engine and to
// the net/http engine (handlers only) and compares status and CORS headers:
// CORS is not in the conformance profile (it needs its own configuration).
func TestCORSMatchesNetHTTP(t *testing.T) {
	cfg := server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff, CORSOrigins: []string{"https://app.example"}}
	fs, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Shutdown(context.Background())
	RegisterService(fs)
	ns, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	service.Register(ns)
	headers := []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
		"Access-Control-Max-Age", "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials", "Vary"}
	tests := []struct {
		name, method, path string
		header             map[string]string
	}{
		{"simple request from an allowed origin", "GET", "/json", map[string]string{"Origin": "https://app.example"}},
		{"simple request from another origin", "GET", "/json", map[string]string{"Origin": "https://evil.example"}},
		{"no origin", "GET", "/json", nil},
		{"allowed preflight", "OPTIONS", "/echo", map[string]string{"Origin": "https://app.example",
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}},
		{"preflight for a method not allowed", "OPTIONS", "/echo", map[string]string{"Origin": "https://app.example",
			"Access-Control-Request-Method": "DELETE"}},
		{"preflight from another origin", "OPTIONS", "/echo", map[string]string{"Origin": "https://evil.example",
			"Access-Control-Request-Method": "POST"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			ns.Handler().ServeHTTP(rec, req)

			ctx := newCtx(tc.method, tc.path, tc.header)
			fs.Handler()(ctx)

			if got, want := ctx.Response.StatusCode(), rec.Code; got != want {
				t.Errorf("status %d, net/http engine %d", got, want)
			}
			for _, h := range headers {
				var vals []string
				ctx.Response.Header.VisitAll(func(k, v []byte) {
					if strings.EqualFold(string(k), h) {
						vals = append(vals, string(v))
					}
				})
				got, want := strings.Join(vals, ", "), strings.Join(rec.Header().Values(h), ", ")
				if got != want {
					t.Errorf("%s: %q, net/http engine %q", h, got, want)
				}
			}
		})
	}
}
