package policy

import "net/http"

// UnmatchedRoute is the route label of a request that no Labeled handler saw
// (404s, or a handler mounted without a label).
const UnmatchedRoute = "unmatched"

// Labeled wraps h so that Metrics and AccessLog label the request with route
// (a registered pattern such as "/time" or "/users/{id}", never the raw path,
// so label cardinality stays bounded). The label reaches them through the
// ResponseWriter they wrapped, found by following Unwrap (which writer
// wrappers between them and the handler must implement, as
// http.ResponseController also requires), and through the request ID's
// per-request state when there is one. Without them Labeled only calls h.
func Labeled(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for x := w; x != nil; {
			sw := findStatusWriter(x)
			if sw == nil {
				break
			}
			sw.route = route
			x = sw.ResponseWriter
		}
		if st := stateFrom(r.Context()); st != nil {
			st.info.route = route
		}
		h.ServeHTTP(w, r)
	})
}

// routeOf returns the route label Labeled left in sw or in r's state, or "".
func routeOf(sw *statusWriter, r *http.Request) string {
	if sw.route != "" {
		return sw.route
	}
	if st := stateFrom(r.Context()); st != nil {
		return st.info.route
	}
	return ""
}

// MethodLabel maps an HTTP method to a metric label: the nine methods of RFC
// 9110 and PATCH keep their name, anything else is "other", so a client
// cannot create label values at will. It returns constant strings and does
// not allocate.
//
// Engine-neutral core: other engines pass their method string (or use
// MethodLabelBytes).
func MethodLabel(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodTrace:
		return http.MethodTrace
	}
	return "other"
}

// MethodLabelBytes is MethodLabel for a []byte method (fasthttp); it does not
// allocate.
func MethodLabelBytes(m []byte) string {
	if len(m) > len(http.MethodConnect) { // longest known method; also keeps the conversion on the stack
		return "other"
	}
	return MethodLabel(string(m))
}
