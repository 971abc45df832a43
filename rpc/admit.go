package rpc

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// admission is the server's grpc.InTapHandle: it runs when a stream's
// headers arrive, before grpc-go reads the request message or runs any
// interceptor, and the context it returns becomes the stream's. Doing the
// request timeout and the in-flight cap there, not in the interceptors,
// is what bounds a call that never sends its request: grpc-go reads a
// unary request before the unary interceptor runs, and a stream's Recv
// waits on the stream's context only (evidence: grpc-go v1.85.0,
// internal/transport/http2_server.go operateHeaders calls the tap, then
// takes ctxDone from the returned context for every read and write of the
// stream; server.go wrapUnaryHandler decodes before the interceptor).
//
// Cost per admitted call: one context.WithDeadline (one runtime timer,
// stopped when the stream ends, because grpc-go cancels the stream's
// context, the deadline context's parent), and for the cap an append to
// a slice under a mutex. The cap does not hook the end of each stream
// (context.AfterFunc costs a goroutine and five allocations per call):
// it keeps the Done channels of the calls it admitted and drops the closed
// ones when the slice is full, so a slot is free as soon as its stream's
// context has ended, and the check costs one channel poll per call
// amortised. While a sweep finds every slot taken, the next refusals for
// a millisecond skip it, so a flood of calls beyond the cap costs no more
// than the refusal each.
type admission struct {
	timeout time.Duration    // 0: no deadline of ours
	max     int              // 0: no cap
	now     func() time.Time // the clock of fullUntil

	mu        sync.Mutex
	live      []<-chan struct{} // Done of admitted calls; some may have ended since
	fullUntil time.Time         // refuse without a sweep until then
}

// fullRecheck is how long a sweep that found every slot taken is trusted.
const fullRecheck = time.Millisecond

// errOverloaded refuses a call beyond the in-flight cap: UNAVAILABLE, the
// gRPC counterpart of the HTTP side's 503 (httpstatus.FromCode maps one to the
// other), which clients may retry on another replica.
var errOverloaded = status.Error(codes.Unavailable, "server overloaded: too many calls in flight, retry later")

func newAdmission(timeout time.Duration, maxInFlight int) *admission {
	return &admission{timeout: timeout, max: max(maxInFlight, 0), now: time.Now}
}

// tap admits a stream or refuses it with errOverloaded (grpc-go answers a
// refusal with the status as a trailers-only response, the request
// unread). An admitted stream holds its slot until its context ends: when
// the handler has returned and grpc-go has queued the status, when the
// client resets the stream, when the client's own deadline passes, or when
// the connection closes. Its context gets a deadline of now+timeout unless
// the client's (grpc-timeout) is earlier; grpc-go then ends a call waiting
// for its request, or blocked sending, with DEADLINE_EXCEEDED.
//
// grpc-go calls tap with its transport's lock held: it must not block.
func (a *admission) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if a.max > 0 && !a.admit(ctx.Done()) {
		return nil, errOverloaded
	}
	if a.timeout > 0 {
		dl := time.Now().Add(a.timeout)
		if cur, ok := ctx.Deadline(); !ok || dl.Before(cur) {
			// The cancel func is not needed: grpc-go cancels the parent
			// (the stream's context) when the stream ends, which stops
			// the timer and releases the child.
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl)
			_ = cancel
		}
	}
	return ctx, nil
}

// admit takes a slot for the call whose context's Done is done, or
// reports false when all max are taken by calls still running.
func (a *admission) admit(done <-chan struct{}) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.live) >= a.max {
		now := a.now()
		if now.Before(a.fullUntil) {
			return false
		}
		a.sweepLocked()
		if len(a.live) >= a.max {
			a.fullUntil = now.Add(fullRecheck)
			return false
		}
	}
	a.live = append(a.live, done)
	return true
}

// sweepLocked drops the calls whose context has ended.
func (a *admission) sweepLocked() {
	kept := a.live[:0]
	for _, d := range a.live {
		select {
		case <-d:
		default:
			kept = append(kept, d)
		}
	}
	clear(a.live[len(kept):]) // no references to ended calls' channels
	a.live = kept
}

// inFlight is the number of admitted calls whose stream has not ended.
func (a *admission) inFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked()
	return len(a.live)
}
