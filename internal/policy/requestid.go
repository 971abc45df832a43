package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync/atomic"
	"unsafe"
)

// RequestIDHeader is the header that carries the request ID both ways.
const RequestIDHeader = "X-Request-ID"

// canonical form, for direct map access without re-canonicalising per request.
const requestIDKey = "X-Request-Id"

// MaxRequestIDLen is the longest incoming request ID that is kept.
const MaxRequestIDLen = 128

// requestIDGenLen is the length of a generated ID: 16 hex digits of
// per-process random prefix, '-', 16 hex digits of a counter.
const requestIDGenLen = 33

var (
	idPrefix  [16]byte      // hex of 8 random bytes, fixed at start-up
	idCounter atomic.Uint64 // incremented per generated ID
)

func init() {
	var b [8]byte
	// crypto/rand.Read never returns an error on supported platforms (Go 1.24+).
	_, _ = rand.Read(b[:])
	hex.Encode(idPrefix[:], b[:])
}

// ValidRequestID reports whether an incoming request ID is kept as is: 1 to
// MaxRequestIDLen bytes, each printable ASCII without space (0x21–0x7E), so it
// is safe in a header, a log line and a metric exemplar.
//
// Engine-neutral core: other engines call it on the raw header value (for
// []byte, ValidRequestIDBytes).
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// ValidRequestIDBytes is ValidRequestID for a []byte header value; it does not
// allocate.
func ValidRequestIDBytes(id []byte) bool {
	if len(id) == 0 || len(id) > MaxRequestIDLen {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// AppendRequestID appends a new request ID to dst and returns the extended
// slice. IDs are a per-process random prefix and a counter in hex
// ("5f1c2a9be07d4c31-000000000000002a"): unique within the process, unlikely to
// collide across processes, cheap (no crypto/rand per request), and sortable
// by arrival within one process. Safe for concurrent use.
//
// Engine-neutral core: other engines append into their own header buffer.
func AppendRequestID(dst []byte) []byte {
	n := idCounter.Add(1)
	dst = append(dst, idPrefix[:]...)
	dst = append(dst, '-')
	var c [16]byte
	for i := 15; i >= 0; i-- {
		c[i] = hexDigits[n&0xf]
		n >>= 4
	}
	return append(dst, c[:]...)
}

// NewRequestID returns a new request ID as a string (one allocation); see
// AppendRequestID.
func NewRequestID() string { return string(AppendRequestID(make([]byte, 0, requestIDGenLen))) }

const hexDigits = "0123456789abcdef"

// RequestID returns a middleware that gives every request an ID: a valid
// incoming X-Request-ID (see ValidRequestID) is kept, otherwise a new one is
// generated (see AppendRequestID). The ID is set on the response header before
// the handler runs, and is available to handlers and inner middlewares through
// RequestIDFrom(r.Context()).
func RequestID() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, r2 := withState(r)
			info := st.info
			if info.id == "" { // an outer RequestID already chose one: keep it
				if v := r.Header[requestIDKey]; len(v) > 0 && ValidRequestID(v[0]) {
					info.id = v[0]
				} else {
					b := AppendRequestID(info.idBuf[:0])
					// The bytes live in the state, which is never reused,
					// and idBuf is written only here, once, so viewing
					// them as a string is safe and saves an allocation.
					info.id = unsafe.String(&b[0], len(b))
				}
				info.idHdr[0] = info.id
			}
			w.Header()[requestIDKey] = info.idHdr[:]
			next.ServeHTTP(w, r2)
		})
	}
}

// RequestIDFrom returns the request ID set by RequestID on ctx or on a context
// derived from it, or "" when there is none.
func RequestIDFrom(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.info.id
	}
	return ""
}
