package policy

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
	corsAny  = []string{"*"}
	corsTrue = []string{"true"}
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

// CORSDecision is what one request gets under a CORSPolicy: the
// engine-neutral result of Decide. Empty strings mean "do not send".
type CORSDecision struct {
	// Preflight: answer 204 now with these headers; do not call the handler.
	Preflight bool
	// Vary lists values to add to the Vary header. Shared: do not modify.
	Vary []string
	// AllowOrigin is Access-Control-Allow-Origin; "" means the request is
	// not allowed and no other CORS header is sent either.
	AllowOrigin string
	// AllowMethods, AllowHeaders and MaxAge are set on allowed preflights.
	AllowMethods, AllowHeaders, MaxAge string
	// AllowCredentials asks for Access-Control-Allow-Credentials: true.
	AllowCredentials bool
	// ExposeHeaders is Access-Control-Expose-Headers, on allowed actual
	// requests.
	ExposeHeaders string
}

var (
	varyPreflight  = []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
	varyOnlyOrigin = []string{"Origin"}
)

// Decide applies p to a request, given its method and the values of its
// Origin, Access-Control-Request-Method and Access-Control-Request-Headers
// headers (several lines joined with ","). A request without Origin gets the
// zero CORSDecision: not a CORS request, nothing to add.
//
// Engine-neutral core: every engine calls Decide and writes the decision's
// headers its own way (the net/http adapter is CORSPolicy.Middleware).
func (p *CORSPolicy) Decide(method, origin, reqMethod, reqHeaders string) CORSDecision {
	if origin == "" {
		return CORSDecision{}
	}
	var d CORSDecision
	allow, ok := p.Origin(origin)
	if IsPreflight(method, origin, reqMethod) {
		d.Preflight, d.Vary = true, varyPreflight
		if !ok || !p.PreflightAllowed(reqMethod, reqHeaders) {
			return d
		}
		d.AllowOrigin, d.AllowMethods, d.MaxAge = allow, p.AllowMethods, p.MaxAge
		d.AllowHeaders = p.AllowHeaders
		if p.anyHeader {
			// "*" is not honoured with credentials; echoing works in both cases.
			d.AllowHeaders = strings.TrimSpace(reqHeaders)
		}
		d.AllowCredentials = p.credentials
		return d
	}
	if !p.anyOrigin {
		d.Vary = varyOnlyOrigin // the answer depends on Origin, allowed or not
	}
	if ok {
		d.AllowOrigin, d.AllowCredentials, d.ExposeHeaders = allow, p.credentials, p.ExposeHeaders
	}
	return d
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
		ov := r.Header["Origin"]
		if len(ov) == 0 || ov[0] == "" {
			next.ServeHTTP(w, r)
			return
		}
		var reqMethod, reqHeaders string
		if r.Method == http.MethodOptions {
			reqMethod = r.Header.Get("Access-Control-Request-Method")
			reqHeaders = strings.Join(r.Header.Values("Access-Control-Request-Headers"), ",")
		}
		d := p.Decide(r.Method, ov[0], reqMethod, reqHeaders)
		h := w.Header()
		if len(d.Vary) > 0 {
			if v := h["Vary"]; len(v) == 0 {
				h["Vary"] = d.Vary[:len(d.Vary):len(d.Vary)] // shared; an append copies
			} else {
				h["Vary"] = append(v, d.Vary...)
			}
		}
		if d.Preflight {
			if d.AllowOrigin != "" {
				h.Set("Access-Control-Allow-Origin", d.AllowOrigin)
				h.Set("Access-Control-Allow-Methods", d.AllowMethods)
				if d.AllowHeaders != "" {
					h.Set("Access-Control-Allow-Headers", d.AllowHeaders)
				}
				h.Set("Access-Control-Max-Age", d.MaxAge)
				if d.AllowCredentials {
					h["Access-Control-Allow-Credentials"] = corsTrue
				}
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// Shared slices instead of h.Set: no allocation per request.
		switch d.AllowOrigin {
		case "":
		case "*":
			h["Access-Control-Allow-Origin"] = corsAny
		default: // the request's own Origin
			h["Access-Control-Allow-Origin"] = ov[0:1:1]
		}
		if d.AllowCredentials {
			h["Access-Control-Allow-Credentials"] = corsTrue
		}
		if d.ExposeHeaders != "" {
			h["Access-Control-Expose-Headers"] = p.exposeVal
		}
		next.ServeHTTP(w, r)
	})
}
