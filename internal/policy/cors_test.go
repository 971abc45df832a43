package policy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	site := CORSConfig{AllowedOrigins: []string{"https://app.example.com"}}
	cases := []struct {
		name       string
		cfg        CORSConfig
		method     string
		header     map[string]string
		wantCode   int
		wantCalled bool
		want       map[string]string // "" means absent
	}{
		{"no Origin: untouched", site, "GET", nil, 200, true,
			map[string]string{"Access-Control-Allow-Origin": ""}},
		{"simple request, allowed origin", site, "GET", map[string]string{"Origin": "https://app.example.com"}, 200, true,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Vary": "Origin", "Access-Control-Expose-Headers": RequestIDHeader}},
		{"simple request, origin case differs", site, "GET", map[string]string{"Origin": "https://APP.example.com"}, 200, true,
			map[string]string{"Access-Control-Allow-Origin": "https://APP.example.com"}},
		{"simple request, other origin: no CORS headers, still Vary", site, "GET", map[string]string{"Origin": "https://evil.example"}, 200, true,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": "", "Vary": "Origin"}},
		{"any origin", CORSConfig{AllowedOrigins: []string{"*"}}, "POST", map[string]string{"Origin": "https://x.example"}, 200, true,
			map[string]string{"Access-Control-Allow-Origin": "*", "Vary": ""}},
		{"preflight allowed", site, "OPTIONS", map[string]string{
			"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type, x-request-id"},
			204, false, map[string]string{
				"Access-Control-Allow-Origin":  "https://app.example.com",
				"Access-Control-Allow-Methods": "GET, HEAD, POST",
				"Access-Control-Allow-Headers": "Content-Type, Authorization, X-Request-ID",
				"Access-Control-Max-Age":       "600",
			}},
		{"preflight with a custom max age and methods", CORSConfig{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PUT"}, MaxAge: time.Hour},
			"OPTIONS", map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "PUT"},
			204, false, map[string]string{"Access-Control-Allow-Methods": "PUT", "Access-Control-Max-Age": "3600", "Access-Control-Allow-Origin": "*"}},
		{"preflight, method not allowed", site, "OPTIONS", map[string]string{
			"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"},
			204, false, map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}},
		{"preflight, header not allowed", site, "OPTIONS", map[string]string{
			"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-Secret"},
			204, false, map[string]string{"Access-Control-Allow-Origin": ""}},
		{"preflight, other origin", site, "OPTIONS", map[string]string{
			"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
			204, false, map[string]string{"Access-Control-Allow-Origin": ""}},
		{"preflight, any header reflected", CORSConfig{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}}, "OPTIONS", map[string]string{
			"Origin": "https://a.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-Anything"},
			204, false, map[string]string{"Access-Control-Allow-Headers": "X-Anything"}},
		{"OPTIONS without request method is not a preflight", site, "OPTIONS", map[string]string{"Origin": "https://app.example.com"}, 200, true,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example.com"}},
		{"credentials", CORSConfig{AllowedOrigins: []string{"https://app.example.com"}, AllowCredentials: true}, "GET",
			map[string]string{"Origin": "https://app.example.com"}, 200, true,
			map[string]string{"Access-Control-Allow-Credentials": "true"}},
		{"zero config: nothing", CORSConfig{}, "GET", map[string]string{"Origin": "https://app.example.com"}, 200, true,
			map[string]string{"Access-Control-Allow-Origin": ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			called := false
			h := CORS(c.cfg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
			req := httptest.NewRequest(c.method, "/", nil)
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			rec := serve(h, req)
			if rec.Code != c.wantCode || called != c.wantCalled {
				t.Errorf("code %d called %v, want %d %v", rec.Code, called, c.wantCode, c.wantCalled)
			}
			for k, v := range c.want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestCORSKeepsExistingVary(t *testing.T) {
	t.Parallel()
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Vary", "Accept-Encoding")
			next.ServeHTTP(w, r)
		})
	}
	for _, origin := range []string{"", "https://a.example"} {
		req := httptest.NewRequest("GET", "/", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		rec := serve(outer(CORS(CORSConfig{AllowedOrigins: []string{"https://a.example"}})(okHandler)), req)
		want := []string{"Accept-Encoding"}
		if origin != "" {
			want = append(want, "Origin")
		}
		if got := rec.Header().Values("Vary"); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("origin %q: Vary = %v, want %v", origin, got, want)
		}
	}
}

func TestCORSDecide(t *testing.T) {
	t.Parallel()
	p, err := NewCORSPolicy(CORSConfig{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide("GET", "", "", ""); d.AllowOrigin != "" || d.Preflight || d.Vary != nil {
		t.Errorf("no Origin: %+v, want the zero decision", d)
	}
	d := p.Decide("OPTIONS", "https://x.example", "PUT", "x-a, x-b")
	if !d.Preflight || d.AllowOrigin != "" {
		t.Errorf("PUT not in the default methods: %+v, want a refused preflight", d)
	}
	d = p.Decide("OPTIONS", "https://x.example", "POST", " x-a, x-b ")
	if d.AllowOrigin != "*" || d.AllowHeaders != "x-a, x-b" || d.MaxAge != "600" {
		t.Errorf("allowed preflight: %+v", d)
	}
}

func TestNewCORSPolicyErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  CORSConfig
	}{
		{"credentials with *", CORSConfig{AllowedOrigins: []string{"*"}, AllowCredentials: true}},
		{"origin without scheme", CORSConfig{AllowedOrigins: []string{"example.com"}}},
		{"wildcard inside origin", CORSConfig{AllowedOrigins: []string{"https://*.example.com"}}},
		{"negative max age", CORSConfig{MaxAge: -time.Second}},
		{"bad method", CORSConfig{AllowedMethods: []string{"GE T"}}},
		{"bad header", CORSConfig{AllowedHeaders: []string{"X:Y"}}},
		{"bad exposed header", CORSConfig{ExposedHeaders: []string{""}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewCORSPolicy(c.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}
