package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CORSConfig configures CORS. The zero value allows no origin, so CORS
// returns handlers that add nothing.
type CORSConfig struct {
	// AllowedOrigins lists origins ("https://app.example.com") allowed to
	// read responses; "*" allows any. Compared case-insensitively, exactly
	// (no wildcards inside a name). Empty: none.
	AllowedOrigins []string
	// AllowedMethods answered to a preflight. Empty: GET, HEAD, POST.
	AllowedMethods []string
	// AllowedHeaders are the request headers a preflight may ask for; "*"
	// allows any. Empty: Content-Type, Authorization, X-Request-ID.
	AllowedHeaders []string
	// ExposedHeaders are response headers scripts may read. Empty:
	// X-Request-ID.
	ExposedHeaders []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true; it
	// cannot be combined with the "*" origin.
	AllowCredentials bool
	// MaxAge is how long a browser may cache a preflight. Zero: 10 minutes.
	// Negative is an error. Sent in whole seconds.
	MaxAge time.Duration
}

// CORSPolicy is the engine-neutral core of CORS: a validated CORSConfig with
// its header values precomputed. Safe for concurrent use.
//
// Another engine calls Origin with the request's Origin header; when it
// reports ok it sets Access-Control-Allow-Origin to the value returned and,
// from the policy's fields, Vary, credentials and expose headers (see
// SimpleHeaders), or for a preflight (IsPreflight) answers 204 with
// PreflightHeaders.
type CORSPolicy struct {
	anyOrigin   bool
	origins     map[string]struct{} // lower-cased
	anyHeader   bool
	headers     map[string]struct{} // lower-cased
	methods     map[string]struct{}
	credentials bool

	// AllowMethods, AllowHeaders, ExposeHeaders and MaxAge are the header
	// values, ready to send.
	AllowMethods  string
	AllowHeaders  string
	ExposeHeaders string
	MaxAge        string

	exposeVal []string // ExposeHeaders as a shared header value
}

// Shared, read-only header values (capacity 1, so an append by a handler
// copies instead of writing into them).
var (
	corsAny    = []string{"*"}
	corsTrue   = []string{"true"}
	varyOrigin = []string{"Origin"}
)

// NewCORSPolicy validates cfg and precomputes the header values.
func NewCORSPolicy(cfg CORSConfig) (*CORSPolicy, error) {
	p := &CORSPolicy{origins: map[string]struct{}{}, headers: map[string]struct{}{}, methods: map[string]struct{}{}}
	for _, o := range cfg.AllowedOrigins {
		switch {
		case o == "*":
			p.anyOrigin = true
		case o == "" || strings.ContainsAny(o, " ,*") || !strings.Contains(o, "://"):
			return nil, fmt.Errorf("middleware: CORS origin %q: want scheme://host[:port] or *", o)
		default:
			p.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = struct{}{}
		}
	}
	if cfg.AllowCredentials && p.anyOrigin {
		return nil, errors.New("middleware: CORS AllowCredentials cannot be combined with the * origin")
	}
	p.credentials = cfg.AllowCredentials
	methods := cfg.AllowedMethods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
	for _, m := range methods {
		if !validToken(m) {
			return nil, fmt.Errorf("middleware: CORS method %q is not an HTTP token", m)
		}
		p.methods[m] = struct{}{}
	}
	p.AllowMethods = strings.Join(methods, ", ")
	headers := cfg.AllowedHeaders
	if len(headers) == 0 {
		headers = []string{"Content-Type", "Authorization", RequestIDHeader}
	}
	for _, h := range headers {
		if h == "*" {
			p.anyHeader = true
			continue
		}
		if !validToken(h) {
			return nil, fmt.Errorf("middleware: CORS header %q is not an HTTP token", h)
		}
		p.headers[strings.ToLower(h)] = struct{}{}
	}
	p.AllowHeaders = strings.Join(headers, ", ")
	exposed := cfg.ExposedHeaders
	if len(exposed) == 0 {
		exposed = []string{RequestIDHeader}
	}
	for _, h := range exposed {
		if !validToken(h) {
			return nil, fmt.Errorf("middleware: CORS exposed header %q is not an HTTP token", h)
		}
	}
	p.ExposeHeaders = strings.Join(exposed, ", ")
	p.exposeVal = []string{p.ExposeHeaders}
	switch {
	case cfg.MaxAge < 0:
		return nil, fmt.Errorf("middleware: CORS MaxAge %v is negative", cfg.MaxAge)
	case cfg.MaxAge == 0:
		p.MaxAge = "600"
	default:
		p.MaxAge = strconv.FormatInt(int64(cfg.MaxAge/time.Second), 10)
	}
	return p, nil
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// Origin reports whether origin may read the response, and the value for
// Access-Control-Allow-Origin: "*" when any origin is allowed without
// credentials, else origin itself. An empty origin (not a CORS request) is
// not allowed.
func (p *CORSPolicy) Origin(origin string) (allow string, ok bool) {
	if origin == "" {
		return "", false
	}
	if p.anyOrigin {
		return "*", true
	}
	if _, ok := p.origins[origin]; ok { // fast path: browsers send lower case
		return origin, true
	}
	if _, ok := p.origins[strings.ToLower(origin)]; ok {
		return origin, true
	}
	return "", false
}

// Credentials reports whether Access-Control-Allow-Credentials is sent.
func (p *CORSPolicy) Credentials() bool { return p.credentials }

// IsPreflight reports whether a request is a CORS preflight: OPTIONS with an
// Origin and an Access-Control-Request-Method.
func IsPreflight(method, origin, requestMethod string) bool {
	return method == http.MethodOptions && origin != "" && requestMethod != ""
}

// PreflightAllowed reports whether a preflight asking for method and the
// comma-separated request headers is allowed.
func (p *CORSPolicy) PreflightAllowed(method, requestHeaders string) bool {
	if _, ok := p.methods[method]; !ok {
		return false
	}
	if p.anyHeader {
		return true
	}
	for requestHeaders != "" {
		var h string
		h, requestHeaders, _ = strings.Cut(requestHeaders, ",")
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, ok := p.headers[strings.ToLower(h)]; !ok {
			return false
		}
	}
	return true
}

// CORS returns a middleware that applies cfg. A preflight from an allowed
// origin that asks for allowed methods and headers gets 204 with
// Access-Control-Allow-Origin/-Methods/-Headers/-Max-Age; any other preflight
// gets 204 without CORS headers (the browser then refuses). Other requests
// from an allowed origin get Access-Control-Allow-Origin (plus Vary: Origin
// unless it is "*", credentials and expose headers) and go on to the
// handler; requests from other origins go on untouched. It panics with a
// "hotpath:" message when cfg is invalid: check it first with NewCORSPolicy.
func CORS(cfg CORSConfig) Middleware {
	p, err := NewCORSPolicy(cfg)
	if err != nil {
		panic(fmt.Errorf("hotpath: %w", err))
	}
	return p.Middleware
}

// Middleware is the net/http adapter of p.
func (p *CORSPolicy) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var origin string
		if v := r.Header["Origin"]; len(v) > 0 {
			origin = v[0]
		}
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		reqMethod := r.Header.Get("Access-Control-Request-Method")
		if IsPreflight(r.Method, origin, reqMethod) {
			h.Add("Vary", "Origin")
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			allow, ok := p.Origin(origin)
			if ok && p.PreflightAllowed(reqMethod, strings.Join(r.Header.Values("Access-Control-Request-Headers"), ",")) {
				h.Set("Access-Control-Allow-Origin", allow)
				h.Set("Access-Control-Allow-Methods", p.AllowMethods)
				if p.anyHeader {
					// "*" is not honoured with credentials; echoing works in both cases.
					if rh := strings.Join(r.Header.Values("Access-Control-Request-Headers"), ", "); rh != "" {
						h.Set("Access-Control-Allow-Headers", rh)
					}
				} else {
					h.Set("Access-Control-Allow-Headers", p.AllowHeaders)
				}
				h.Set("Access-Control-Max-Age", p.MaxAge)
				if p.credentials {
					h.Set("Access-Control-Allow-Credentials", "true")
				}
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// Shared slices instead of h.Set: no allocation per request.
		if allow, ok := p.Origin(origin); ok {
			if allow == "*" {
				h["Access-Control-Allow-Origin"] = corsAny
			} else {
				h["Access-Control-Allow-Origin"] = r.Header["Origin"][0:1:1] // allow == origin
				if v := h["Vary"]; len(v) == 0 {
					h["Vary"] = varyOrigin
				} else {
					h["Vary"] = append(v, "Origin")
				}
			}
			if p.credentials {
				h["Access-Control-Allow-Credentials"] = corsTrue
			}
			if p.ExposeHeaders != "" {
				h["Access-Control-Expose-Headers"] = p.exposeVal
			}
		}
		next.ServeHTTP(w, r)
	})
}
