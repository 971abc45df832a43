package policy

import "net/http"

// BodyTooLarge reports whether a declared Content-Length exceeds max; -1
// (unknown, e.g. chunked) is never too large up front. Engine-neutral core:
// another engine checks the declared length with it and enforces max on the
// bytes it reads (fasthttp: Server.MaxRequestBodySize).
func BodyTooLarge(contentLength, max int64) bool { return contentLength > max }

// MaxBytes returns a middleware that limits request bodies to n bytes. A
// request whose Content-Length exceeds n gets 413 at once, without reading
// the body or calling the handler. Other bodies (chunked, or under the limit)
// are wrapped in http.MaxBytesReader: a read past n fails with
// *http.MaxBytesError, which the handler should answer with 413, and the
// server closes the connection after the response. n <= 0 returns a no-op
// middleware.
func MaxBytes(n int64) Middleware {
	if n <= 0 {
		return func(h http.Handler) http.Handler { return h }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if BodyTooLarge(r.ContentLength, n) {
				w.Header().Set("Connection", "close") // the unread body would otherwise be drained
				plainError(w, http.StatusRequestEntityTooLarge, BodyRequestTooLarge)
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
