package fasthttpengine

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// router maps a path and method to a handler with the rules of net/http's
// ServeMux that the service uses: "METHOD /path" or "/path" patterns, exact
// paths, a trailing "/" matching a subtree, GET also answering HEAD, and 405
// with Allow for a known path and another method. It is built before serving
// and read-only afterwards, so lookups need no lock and do not allocate.
//
// Written here rather than taken from a fasthttp router library because the
// 404/405/Allow behaviour and the route labels must match the net/http engine
// exactly, and the table is a handful of entries.
type router struct {
	exact    map[string]*pathRoutes
	prefixes []*pathRoutes // subtree patterns, longest first
}

// pathRoutes are the handlers of one path.
type pathRoutes struct {
	path    string
	methods []methodRoute // "" method = any
	allow   string        // Allow header value for 405s
}

type methodRoute struct {
	method string
	label  string // the pattern, as metrics and access logs label it
	h      fasthttp.RequestHandler
}

func newRouter() *router { return &router{exact: map[string]*pathRoutes{}} }

// parsePattern splits "GET /time" into method and path.
func parsePattern(pattern string) (method, path string, err error) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	path = strings.TrimLeft(path, " ")
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " {}") {
		return "", "", fmt.Errorf("pattern %q: want [METHOD ]/path with no wildcards", pattern)
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; c < 'A' || c > 'Z' {
			return "", "", fmt.Errorf("pattern %q: method %q is not upper-case letters", pattern, method)
		}
	}
	return method, path, nil
}

// add registers h at pattern; it reports a conflicting registration.
func (r *router) add(pattern string, h fasthttp.RequestHandler) error {
	method, path, err := parsePattern(pattern)
	if err != nil {
		return err
	}
	pr := r.exact[path]
	if pr == nil {
		pr = &pathRoutes{path: path}
		r.exact[path] = pr
		if strings.HasSuffix(path, "/") {
			r.prefixes = append(r.prefixes, pr)
			slices.SortFunc(r.prefixes, func(a, b *pathRoutes) int { return len(b.path) - len(a.path) })
		}
	}
	for _, m := range pr.methods {
		if m.method == method {
			return fmt.Errorf("pattern %q conflicts with %q", pattern, m.label)
		}
	}
	pr.methods = append(pr.methods, methodRoute{method: method, label: pattern, h: h})
	pr.allow = allowOf(pr.methods)
	return nil
}

// allowOf is the Allow header for a path's methods, sorted as net/http does.
func allowOf(ms []methodRoute) string {
	var names []string
	for _, m := range ms {
		switch m.method {
		case "":
			return "" // any method matches: no 405 possible
		case http.MethodGet:
			names = append(names, http.MethodGet, http.MethodHead)
		default:
			names = append(names, m.method)
		}
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}

// lookup finds the routes of path: the exact entry, else the longest subtree.
func (r *router) lookup(path []byte) *pathRoutes {
	if pr, ok := r.exact[string(path)]; ok { // no allocation: map index by converted bytes
		return pr
	}
	for _, pr := range r.prefixes {
		if len(path) >= len(pr.path) && string(path[:len(pr.path)]) == pr.path {
			return pr
		}
	}
	return nil
}

// find is lookup then match: the routes of path (nil: 404) and the route for
// method among them (nil: 405, or 404 when pr is nil).
func (r *router) find(path, method []byte) (pr *pathRoutes, m *methodRoute) {
	if pr = r.lookup(path); pr == nil {
		return nil, nil
	}
	if m, ok := pr.match(method); ok {
		return pr, m
	}
	return pr, nil
}

// match picks the handler for method; ok is false with a non-empty allow
// for a 405.
func (pr *pathRoutes) match(method []byte) (m *methodRoute, ok bool) {
	var get, any *methodRoute
	for i := range pr.methods {
		mr := &pr.methods[i]
		switch {
		case mr.method == string(method):
			return mr, true
		case mr.method == "":
			any = mr
		case mr.method == http.MethodGet:
			get = mr
		}
	}
	if get != nil && string(method) == http.MethodHead {
		return get, true
	}
	if any != nil {
		return any, true
	}
	return nil, false
}
