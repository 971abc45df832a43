package policy

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// reqState is the per-request state shared by RequestID and Timeout: request
// ID, a fallback route label and an optional deadline. It is at once the
// request's context.Context and the storage of the shallow request copy that
// carries it, so installing it costs a single allocation (see withState).
//
// The first middleware that needs it installs it; the others find it with
// stateFrom and update it in place. It is never pooled: handlers may keep the
// context after they return, as the context contract allows.
type reqState struct {
	parent context.Context
	info   *reqInfo // shared with nested states; points at own for a root state
	own    reqInfo
	req    http.Request

	// Fields ordered to keep the struct small: it is allocated per request.
	mu           sync.Mutex
	hasDeadline  bool
	handedParent bool // Done returned parent.Done() before a deadline was set
	deadline     mono
	done         chan struct{} // created lazily by Done when a deadline is set
	err          error
	stopParent   func() bool
}

// reqInfo is the part of the state that nested states share.
type reqInfo struct {
	id    string
	idHdr [1]string // the X-Request-ID response header value, without a new []string
	idBuf [requestIDGenLen]byte
	route string // fallback for Labeled when no status writer is reachable
}

type stateKey struct{}

// withState returns r's state and the request that carries it, installing a new
// state when r has none. The returned request is r itself when the state was
// already there.
func withState(r *http.Request) (*reqState, *http.Request) {
	if st := stateFrom(r.Context()); st != nil {
		return st, r
	}
	st := newState(r)
	return st, &st.req
}

// newState makes a root state whose parent is r's context, and the request
// copy that carries it. WithContext is inlined and its result only copied, so
// the compiler keeps its temporary on the stack: one allocation in all.
func newState(r *http.Request) *reqState {
	st := &reqState{parent: r.Context()}
	st.info = &st.own
	st.req = *r.WithContext(st)
	return st
}

// newChildState makes a state below r's context that shares the request ID and
// route of the state above it (if any); used when a deadline cannot be set on
// the existing state in place.
func newChildState(r *http.Request, above *reqState) *reqState {
	st := &reqState{parent: r.Context()}
	if above != nil {
		st.info = above.info
	} else {
		st.info = &st.own
	}
	st.req = *r.WithContext(st)
	return st
}

// stateFrom returns the nearest state in ctx, or nil. The type assertion is
// the fast path when the state is the request's context itself.
func stateFrom(ctx context.Context) *reqState {
	if st, ok := ctx.(*reqState); ok {
		return st
	}
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// setDeadline gives st a deadline. It reports false when st already has one or
// when its Done channel was already handed out (a context derived from it
// would not see the new deadline); the caller then makes a child state.
func (st *reqState) setDeadline(t mono) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.hasDeadline || st.handedParent || st.err != nil {
		return false
	}
	st.hasDeadline, st.deadline = true, t
	return true
}

// cancel ends the context with err unless it has already ended.
func (st *reqState) cancel(err error) {
	st.mu.Lock()
	st.cancelLocked(err)
	st.mu.Unlock()
}

func (st *reqState) cancelLocked(err error) {
	if st.err != nil {
		return
	}
	st.err = err
	if st.done != nil {
		close(st.done)
	}
	if st.stopParent != nil {
		st.stopParent()
		st.stopParent = nil
	}
}

// Deadline implements context.Context: the earlier of its own deadline and the
// parent's.
func (st *reqState) Deadline() (time.Time, bool) {
	pd, pok := st.parent.Deadline()
	st.mu.Lock()
	m, ok := st.deadline, st.hasDeadline
	st.mu.Unlock()
	if !ok {
		return pd, pok
	}
	d := wallAt(m, time.Now())
	if pok && pd.Before(d) {
		return pd, true
	}
	return d, true
}

// Done implements context.Context. Without a deadline it is the parent's
// channel (no allocation). With one, the channel is made on first use and
// closed when the deadline passes, when the parent ends, or when the Timeout
// middleware returns.
func (st *reqState) Done() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.hasDeadline && st.err == nil {
		st.handedParent = true
		return st.parent.Done()
	}
	if st.done == nil {
		st.done = make(chan struct{})
		if st.err != nil {
			close(st.done)
		} else if st.parent.Done() != nil {
			// Allocates, but only for handlers that wait on Done.
			st.stopParent = context.AfterFunc(st.parent, func() { st.cancel(st.parent.Err()) })
		}
	}
	return st.done
}

// Err implements context.Context. A parent that ended is seen at once, even
// before the AfterFunc propagation ran, and the state is ended with it so that
// Done and Err agree.
func (st *reqState) Err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return st.err
	}
	perr := st.parent.Err()
	if perr == nil {
		return nil
	}
	if !st.hasDeadline {
		return perr
	}
	st.cancelLocked(perr)
	return perr
}

// Value implements context.Context.
func (st *reqState) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return st
	}
	return st.parent.Value(key)
}

// String makes the state print like the standard contexts.
func (st *reqState) String() string { return "middleware.reqState" }
