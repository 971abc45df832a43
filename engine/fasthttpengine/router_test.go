package fasthttpengine

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
)

func TestRouter(t *testing.T) {
	r := newRouter()
	nop := func(*fasthttp.RequestCtx) {}
	for _, p := range []string{"GET /time", "POST /echo", "PUT /echo", "/any", "GET /static/", "GET /static/img/"} {
		if err := r.add(p, nop); err != nil {
			t.Fatalf("add %q: %v", p, err)
		}
	}
	tests := []struct {
		name, method, path string
		wantLabel          string // "" = no handler
		wantAllow          string // for a 405
		wantFound          bool   // path known
	}{
		{"exact GET", "GET", "/time", "GET /time", "", true},
		{"HEAD falls back to GET", "HEAD", "/time", "GET /time", "", true},
		{"other method is 405 with GET, HEAD", "POST", "/time", "", "GET, HEAD", true},
		{"Allow lists every method, sorted", "GET", "/echo", "", "POST, PUT", true},
		{"method-less pattern takes any method", "DELETE", "/any", "/any", "", true},
		{"unknown path", "GET", "/nope", "", "", false},
		{"exact path does not match a subpath", "GET", "/time/x", "", "", false},
		{"subtree matches below it", "GET", "/static/a.css", "GET /static/", "", true},
		{"longest subtree wins", "GET", "/static/img/a.png", "GET /static/img/", "", true},
		{"subtree root itself", "GET", "/static/", "GET /static/", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := r.lookup([]byte(tc.path))
			if (pr != nil) != tc.wantFound {
				t.Fatalf("lookup %s: found %v, want %v", tc.path, pr != nil, tc.wantFound)
			}
			if pr == nil {
				return
			}
			m, ok := pr.match([]byte(tc.method))
			switch {
			case tc.wantLabel != "" && (!ok || m.label != tc.wantLabel):
				t.Errorf("%s %s: matched %v, want %q", tc.method, tc.path, m, tc.wantLabel)
			case tc.wantLabel == "" && (ok || pr.allow != tc.wantAllow):
				t.Errorf("%s %s: ok %v, Allow %q; want 405 with %q", tc.method, tc.path, ok, pr.allow, tc.wantAllow)
			}
		})
	}
}

func TestRouterRejects(t *testing.T) {
	nop := func(*fasthttp.RequestCtx) {}
	tests := []struct{ name, pattern, want string }{
		{"no leading slash", "GET time", "want [METHOD ]/path"},
		{"wildcards are not supported", "GET /items/{id}", "no wildcards"},
		{"lower-case method", "get /x", "upper-case"},
		{"duplicate", "GET /dup", "conflicts"},
	}
	r := newRouter()
	if err := r.add("GET /dup", nop); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.add(tc.pattern, nop)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("add %q: %v, want an error containing %q", tc.pattern, err, tc.want)
			}
		})
	}
}

func FuzzRouterLookup(f *testing.F) {
	r := newRouter()
	nop := func(*fasthttp.RequestCtx) {}
	for _, p := range []string{"GET /time", "POST /echo", "GET /static/"} {
		if err := r.add(p, nop); err != nil {
			f.Fatal(err)
		}
	}
	f.Add("GET", "/time")
	f.Add("HEAD", "/static/x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, method, path string) {
		pr := r.lookup([]byte(path))
		if pr == nil {
			return
		}
		if m, ok := pr.match([]byte(method)); ok && m.h == nil {
			t.Fatalf("%s %s matched a nil handler", method, path)
		} else if !ok && pr.allow == "" {
			t.Fatalf("%s %s: 405 without Allow", method, path)
		}
	})
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"GET /time", "/any", "POST  /echo", "get /x", "GET", "", " /x", "GET /a/{id}", "GET /static/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		method, path, err := parsePattern(pattern)
		if err != nil {
			return
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " {}") {
			t.Fatalf("%q: accepted path %q", pattern, path)
		}
		for _, c := range method {
			if c < 'A' || c > 'Z' {
				t.Fatalf("%q: accepted method %q", pattern, method)
			}
		}
		r := newRouter()
		if err := r.add(pattern, func(*fasthttp.RequestCtx) {}); err != nil {
			t.Fatalf("%q parses but does not register: %v", pattern, err)
		}
		if pr := r.lookup([]byte(path)); pr == nil {
			t.Fatalf("%q registered but %q is not found", pattern, path)
		}
	})
}

// TestAuthRequiredMatchesServer: the engine's []byte copy of the auth-routes
// rule answers as server.AuthRequired does.
func TestAuthRequiredMatchesServer(t *testing.T) {
	routeSets := [][]string{{"*"}, {"/echo"}, {"/x/"}, {"/echo", "/x/"}, {"/healthz"}, {"/hotpath.v1.EchoService/"}}
	paths := []string{"/", "/echo", "/echo/", "/echox", "/x", "/x/", "/x/y", "/healthz", "/readyz", "/time",
		"/hotpath.v1.EchoService/Echo", "/hotpath.v1.TimeService/Now"}
	for _, routes := range routeSets {
		for _, p := range paths {
			if got, want := authRequired(routes, []byte(p)), server.AuthRequired(routes, p); got != want {
				t.Errorf("routes %q, path %q: engine %v, server %v", routes, p, got, want)
			}
		}
	}
}
