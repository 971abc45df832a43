package policy

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// BearerAuth is the engine-neutral core of Auth: a set of accepted bearer
// tokens checked in constant time. Safe for concurrent use.
//
// Another engine passes the raw Authorization header value to Check and, on
// false, answers 401 with a WWW-Authenticate header of Challenge(invalid),
// where invalid is true when a token was presented.
type BearerAuth struct {
	digests   [][sha256.Size]byte
	challenge string // WWW-Authenticate for a missing token
	invalid   string // WWW-Authenticate for a wrong token (RFC 6750 error)
}

// NewBearerAuth returns a checker accepting any of tokens; realm is named in
// the challenge. It fails when tokens is empty or a token is empty or not a
// valid RFC 6750 token (b64token characters), or realm contains a control
// character.
func NewBearerAuth(tokens []string, realm string) (*BearerAuth, error) {
	if len(tokens) == 0 {
		return nil, errors.New("middleware: bearer auth needs at least one token")
	}
	a := &BearerAuth{}
	for i, t := range tokens {
		if !validB64Token(t) {
			return nil, fmt.Errorf("middleware: bearer token #%d is empty or has characters outside RFC 6750's b64token", i+1)
		}
		// Comparing fixed-size digests keeps the comparison time
		// independent of the tokens' lengths as well as their contents.
		a.digests = append(a.digests, sha256.Sum256([]byte(t)))
	}
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; c < 0x20 || c == 0x7f {
			return nil, fmt.Errorf("middleware: bearer realm %q has a control character", realm)
		}
	}
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(realm)
	a.challenge = `Bearer realm="` + q + `"`
	a.invalid = a.challenge + `, error="invalid_token"`
	return a, nil
}

// validB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func validB64Token(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0 {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// ParseBearer extracts the token from an Authorization header value
// ("Bearer <token>", scheme case-insensitive, one or more spaces). It reports
// false for another scheme, an empty or malformed token.
func ParseBearer(header string) (token string, ok bool) {
	const scheme = "bearer"
	if len(header) < len(scheme)+2 || !strings.EqualFold(header[:len(scheme)], scheme) || header[len(scheme)] != ' ' {
		return "", false
	}
	token = strings.TrimLeft(header[len(scheme):], " ")
	if !validB64Token(token) {
		return "", false
	}
	return token, true
}

// Check reports whether an Authorization header value carries an accepted
// token. The time it takes does not depend on which token matched or on the
// contents of the presented token.
func (a *BearerAuth) Check(header string) bool {
	tok, ok := ParseBearer(header)
	if !ok {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
	}
	return match == 1
}

// Challenge returns the WWW-Authenticate value for a 401: with
// error="invalid_token" when a token was presented but refused.
func (a *BearerAuth) Challenge(invalid bool) string {
	if invalid {
		return a.invalid
	}
	return a.challenge
}

// Auth returns a middleware that lets a request through only with an
// "Authorization: Bearer <token>" header carrying one of tokens (compared in
// constant time, see BearerAuth). Otherwise it answers 401 with
// WWW-Authenticate: Bearer realm="<realm>" (plus error="invalid_token" when a
// wrong token was sent) and does not call the handler. It panics with a
// "hotpath:" message on an invalid setup (no tokens): check it first with
// NewBearerAuth.
func Auth(tokens []string, realm string) Middleware {
	a, err := NewBearerAuth(tokens, realm)
	if err != nil {
		panic(fmt.Errorf("hotpath: %w", err))
	}
	return a.Middleware
}

// Middleware is the net/http adapter of a.
func (a *BearerAuth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header["Authorization"]
		if len(v) == 1 && a.Check(v[0]) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", a.Challenge(len(v) > 0))
		plainError(w, http.StatusUnauthorized, BodyUnauthorized)
	})
}
