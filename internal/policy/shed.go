package policy

import (
	"net/http"
	"sync/atomic"
)

// Shedder is the engine-neutral core of Shed: a counter of requests in
// progress with a hard ceiling. The zero value (or max 0) never sheds. Safe
// for concurrent use.
//
// Another engine calls Acquire before the handler; on false it answers 503
// with Retry-After: 1 at once, on true it calls Release when the handler
// returns.
type Shedder struct {
	max      int64
	inFlight atomic.Int64
}

// NewShedder returns a Shedder admitting at most max concurrent requests; max
// <= 0 means no limit.
func NewShedder(max int) *Shedder { return &Shedder{max: int64(max)} }

// Acquire admits a request unless max are already in progress.
func (s *Shedder) Acquire() bool {
	if s.max <= 0 {
		return true
	}
	if s.inFlight.Add(1) > s.max {
		s.inFlight.Add(-1)
		return false
	}
	return true
}

// Release ends a request admitted by Acquire.
func (s *Shedder) Release() {
	if s.max > 0 {
		s.inFlight.Add(-1)
	}
}

// InFlight returns the number of admitted requests in progress (0 without a
// limit).
func (s *Shedder) InFlight() int { return int(s.inFlight.Load()) }

// Shed returns a middleware that answers 503 with Retry-After: 1 at once,
// without queueing, when maxInFlight requests are already being served by the
// handlers it wraps. maxInFlight <= 0 returns a no-op middleware.
func Shed(maxInFlight int) Middleware {
	if maxInFlight <= 0 {
		return func(h http.Handler) http.Handler { return h }
	}
	return NewShedder(maxInFlight).Middleware
}

// Middleware is the net/http adapter of s.
func (s *Shedder) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Acquire() {
			w.Header()["Retry-After"] = retryOne
			plainError(w, http.StatusServiceUnavailable, BodyOverloaded)
			return
		}
		defer s.Release()
		next.ServeHTTP(w, r)
	})
}
