package rpc

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// bearerAuth checks "authorization: Bearer <token>" on every method outside
// the exempt services that required (if set) covers.
type bearerAuth struct {
	token    []byte
	exempt   map[string]bool // "/pkg.Service/" prefixes
	required func(fullMethod string) bool
}

func newBearerAuth(token string, exemptServices []string, required func(string) bool) *bearerAuth {
	a := &bearerAuth{token: []byte(token), exempt: make(map[string]bool, len(exemptServices)), required: required}
	for _, s := range exemptServices {
		a.exempt["/"+s+"/"] = true
	}
	return a
}

var (
	errNoToken  = status.Error(codes.Unauthenticated, "missing bearer token in authorization metadata")
	errBadToken = status.Error(codes.Unauthenticated, "invalid bearer token")
)

func (a *bearerAuth) check(ctx context.Context, fullMethod string) error {
	if i := strings.LastIndexByte(fullMethod, '/'); i > 0 && a.exempt[fullMethod[:i+1]] {
		return nil
	}
	if a.required != nil && !a.required(fullMethod) {
		return nil
	}
	vs := metadata.ValueFromIncomingContext(ctx, "authorization") // no copy of the whole map
	if len(vs) == 0 {
		return errNoToken
	}
	const prefix = "bearer "
	v := vs[0]
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return errNoToken
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(v[len(prefix):])), a.token) != 1 {
		return errBadToken
	}
	return nil
}
