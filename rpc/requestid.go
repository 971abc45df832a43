package rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

	"google.golang.org/grpc/metadata"
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

// maxRequestIDLen bounds an accepted incoming ID; longer ones are replaced.
const maxRequestIDLen = 128

// validRequestID reports whether an incoming ID may be reused: 1 to
// maxRequestIDLen printable ASCII characters without spaces.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// idGen makes process-unique IDs: a random prefix and a counter. Cheaper than
// random bytes per call and unique enough to correlate logs.
type idGen struct {
	prefix string
	n      atomic.Uint64
}

func newIDGen() *idGen {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return &idGen{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (g *idGen) next() string {
	var buf [64]byte
	b := append(buf[:0], g.prefix...)
	return string(strconv.AppendUint(b, g.n.Add(1), 10)) // one allocation
}

// requestID returns the ID for an incoming call: the client's if valid,
// else a new one.
func (g *idGen) requestID(ctx context.Context) string {
	// ValueFromIncomingContext copies one value slice; FromIncomingContext
	// would copy the whole metadata map.
	if vs := metadata.ValueFromIncomingContext(ctx, RequestIDKey); len(vs) > 0 && validRequestID(vs[0]) {
		return vs[0]
	}
	return g.next()
}
