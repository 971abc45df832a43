package rpc

import (
	"context"
	"sync/atomic"
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
// sets ctxDone from the returned context for every read and write of the
// stream; server.go wrapUnaryHandler decodes before the interceptor).
//
// Cost per admitted call: one context.WithDeadline (one runtime timer,
// stopped when the stream ends, because grpc-go cancels the stream's
// context, the deadline context's parent) and one context.AfterFunc
// (releases the in-flight slot when the stream's context ends).
type admission struct {
	timeout time.Duration // 0: no deadline of ours
	max     int64         // 0: no cap
	n       atomic.Int64  // calls admitted whose stream context has not ended
	release func()        // n.Add(-1), made once
}

// errOverloaded refuses a call beyond the in-flight cap: UNAVAILABLE, the
// gRPC counterpart of the HTTP side's 503 (HTTPStatus maps one to the
// other), which clients may retry on another replica.
var errOverloaded = status.Error(codes.Unavailable, "server overloaded: too many calls in flight, retry later")

func newAdmission(timeout time.Duration, maxInFlight int) *admission {
	a := &admission{timeout: timeout}
	if maxInFlight > 0 {
		a.max = int64(maxInFlight)
	}
	a.release = func() { a.n.Add(-1) }
	return a
}

// tap admits a stream or refuses it with errOverloaded (grpc-go answers a
// refusal with the status as trailers-only response, the request unread).
// An admitted stream holds its slot until its context ends: when the
// handler has returned and grpc-go has queued the status, when the client
// resets the stream, when the client's own deadline passes, or when the
// connection closes. Its context gets a deadline of now+timeout unless the
// client's (grpc-timeout) is earlier; grpc-go then ends a call waiting for
// its request, or blocked sending, with DEADLINE_EXCEEDED.
//
// grpc-go calls tap with its transport's lock held: it must not block.
func (a *admission) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if a.max > 0 {
		if a.n.Add(1) > a.max {
			a.n.Add(-1)
			return nil, errOverloaded
		}
		// Registered on the stream's context, not on the deadline's: a
		// handler that ignores its deadline keeps its slot until it returns.
		context.AfterFunc(ctx, a.release)
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

// inFlight is the number of admitted calls whose stream has not ended.
func (a *admission) inFlight() int64 { return a.n.Load() }
