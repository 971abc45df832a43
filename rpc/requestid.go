package rpc

import (
	"context"

	"google.golang.org/grpc/metadata"

	"github.com/hotpath-dev/hotpath/internal/policy"
)

// RequestIDKey is the metadata key (HTTP header X-Request-Id) carrying the
// request ID, as in the HTTP middleware.
const RequestIDKey = "x-request-id"

type requestIDCtxKey struct{}

// RequestID returns the request ID the interceptor stored in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtxKey{}).(string)
	return id
}

// requestID returns the ID for an incoming call: the client's if valid
// (policy.ValidRequestID: 1 to 128 printable ASCII characters without
// spaces, the HTTP middleware's rule), else a new one from the HTTP
// middleware's generator, so IDs have one format and one sequence per
// process whichever protocol a request came in on.
func requestID(ctx context.Context) string {
	// ValueFromIncomingContext copies one value slice; FromIncomingContext
	// would copy the whole metadata map.
	if vs := metadata.ValueFromIncomingContext(ctx, RequestIDKey); len(vs) > 0 && policy.ValidRequestID(vs[0]) {
		return vs[0]
	}
	var buf [64]byte
	return string(policy.AppendRequestID(buf[:0])) // one allocation
}
