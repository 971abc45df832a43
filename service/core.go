package service

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Content types of the endpoints' responses, shared by every engine.
const (
	ContentTypeText = "text/plain; charset=utf-8"
	ContentTypeJSON = "application/json"
)

// JSONBody is the exact body of GET /json. Engines write it as is; it must
// never be modified.
var JSONBody = []byte(`{"message":"Hello, World!"}`)

// MaxDelay is the largest delay GET /delay accepts.
const MaxDelay = 10 * time.Second

// ErrBadDelay is wrapped by every error ParseDelay returns.
var ErrBadDelay = errors.New("ms must be an integer from 0 to 10000")

// AppendUnixMilli appends t as decimal Unix milliseconds (the body of
// GET /time) to dst and returns the extended slice. It does not allocate
// when dst has room for 20 more bytes.
func AppendUnixMilli(dst []byte, t time.Time) []byte {
	return strconv.AppendInt(dst, t.UnixMilli(), 10)
}

// ParseDelay parses the ms query value of GET /delay: a decimal integer of
// milliseconds from 0 to 10000 (no sign, no spaces, no unit). Any other input
// returns an error wrapping ErrBadDelay, which handlers answer with 400.
func ParseDelay(s string) (time.Duration, error) {
	// Hand-rolled instead of strconv.Atoi: Atoi accepts "+5" and huge
	// lengths, and we want a fixed, tiny accepted language.
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("delay %q: %w", s, ErrBadDelay)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("delay %q: %w", s, ErrBadDelay)
		}
		n = n*10 + int(c-'0')
	}
	d := time.Duration(n) * time.Millisecond
	if d > MaxDelay {
		return 0, fmt.Errorf("delay %q: %w", s, ErrBadDelay)
	}
	return d, nil
}

// Readiness is the state behind GET /readyz (and of every engine's
// /readyz): ready unless SetDraining(true) was called at the start of a
// graceful shutdown or a check added with AddCheck reports false (e.g. the
// ingest sink has been failing for a while). The zero value is ready. It is
// safe for concurrent use; engines share one per process.
type Readiness struct {
	draining atomic.Bool
	mu       sync.Mutex                    // serialises AddCheck
	checks   atomic.Pointer[[]func() bool] // read without locking by Ready
}

// Ready reports whether /readyz should answer 200: not draining, and every
// check reports true. Checks run on each call, in the order added.
func (r *Readiness) Ready() bool {
	if r.draining.Load() {
		return false
	}
	if cs := r.checks.Load(); cs != nil {
		for _, c := range *cs {
			if !c() {
				return false
			}
		}
	}
	return true
}

// SetDraining flips readiness: true makes /readyz answer 503 from the next
// request on; false makes it ready again (if every check passes).
func (r *Readiness) SetDraining(draining bool) { r.draining.Store(draining) }

// AddCheck adds a condition of readiness: from now on Ready is false while
// check returns false. check is called on every Ready (every /readyz
// request), from any goroutine: it must be fast and safe for concurrent
// use. A check cannot be removed.
func (r *Readiness) AddCheck(check func() bool) {
	if check == nil {
		panic("hotpath: Readiness.AddCheck needs a non-nil check")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var cs []func() bool
	if old := r.checks.Load(); old != nil {
		cs = append(cs, *old...)
	}
	cs = append(cs, check)
	r.checks.Store(&cs)
}

// The probe endpoints. Load shedding and rate limiting never refuse them and
// auth never guards them: a probe that fails because the pod is busy makes
// Kubernetes restart (liveness) or unlist (readiness) exactly the pods that
// carry the load.
const (
	LivenessPath  = "/healthz"
	ReadinessPath = "/readyz"
)

// IsProbe reports whether path is LivenessPath or ReadinessPath.
func IsProbe(path string) bool { return path == LivenessPath || path == ReadinessPath }
