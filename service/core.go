package service

import (
	"errors"
	"fmt"
	"strconv"
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

// Readiness is the state behind GET /readyz: ready until SetDraining is
// called at the start of a graceful shutdown. The zero value is ready.
// It is safe for concurrent use; engines share one per process.
type Readiness struct {
	draining atomic.Bool
}

// Ready reports whether /readyz should answer 200.
func (r *Readiness) Ready() bool { return !r.draining.Load() }

// SetDraining flips readiness: true makes /readyz answer 503 from the next
// request on; false makes it ready again.
func (r *Readiness) SetDraining(draining bool) { r.draining.Store(draining) }

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
