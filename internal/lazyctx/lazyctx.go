// Package lazyctx provides a context whose cancellation machinery — the
// timer of its deadline, and anything else the owner attaches (a goroutine
// watching a socket) — starts only when Done or Err is first called.
//
// Why: a server hands every request a context with a deadline, and most
// fast handlers never wait on it (GET /time answers in microseconds). A
// context.WithDeadline costs a runtime timer and three allocations per
// request; the fasthttp engine's disconnect watcher costs a goroutine and
// socket operations. Deadline and Value need none of that, so they answer
// at once; the machinery starts the first time someone could wait.
package lazyctx

import (
	"context"
	"sync"
	"time"
)

// Context is a context.Context derived from a parent with an optional
// earlier deadline. It is cancelled when its deadline passes, when the
// parent is done, when OnStart's cancel is called, or when End is called —
// as far as anyone who calls Done or Err can tell: before the first such
// call nothing runs. After End, a first Done returns a closed channel and
// Err context.Canceled (or the parent's error). Safe for concurrent use.
type Context struct {
	parent   context.Context
	deadline time.Time // zero: the parent's
	onStart  func(cancel context.CancelFunc) (stop func())

	mu     sync.Mutex
	inner  context.Context // nil until started
	cancel context.CancelFunc
	stop   func()
	ended  bool
}

// New returns a Context of parent with deadline (zero: none beyond the
// parent's). onStart, if not nil, is called once when the context starts,
// with the function that cancels it; the function it returns is called by
// End (before the cancel), e.g. to stop a watcher that calls cancel.
func New(parent context.Context, deadline time.Time, onStart func(cancel context.CancelFunc) (stop func())) *Context {
	return &Context{parent: parent, deadline: deadline, onStart: onStart}
}

// started returns the running context, starting it on the first call.
func (c *Context) started() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner != nil {
		return c.inner
	}
	if c.deadline.IsZero() {
		c.inner, c.cancel = context.WithCancel(c.parent)
	} else {
		c.inner, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	if c.ended {
		c.cancel()
	} else if c.onStart != nil {
		c.stop = c.onStart(c.cancel)
	}
	return c.inner
}

// End cancels the context (the work it was for is over) and stops what
// OnStart started. Later calls do nothing.
func (c *Context) End() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	cancel, stop := c.cancel, c.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	if cancel != nil {
		cancel()
	}
}

// Deadline is the earlier of the parent's deadline and New's.
func (c *Context) Deadline() (time.Time, bool) {
	pd, ok := c.parent.Deadline()
	if c.deadline.IsZero() || (ok && pd.Before(c.deadline)) {
		return pd, ok
	}
	return c.deadline, true
}

// Done starts the context (see Context) and returns its channel.
func (c *Context) Done() <-chan struct{} { return c.started().Done() }

// Err starts the context (see Context) and returns its error.
func (c *Context) Err() error { return c.started().Err() }

// Value answers from the started context once there is one, so that
// context.WithCancel on this context finds the cancelCtx inside and needs
// no goroutine of its own; before, from the parent.
func (c *Context) Value(key any) any {
	c.mu.Lock()
	inner := c.inner
	c.mu.Unlock()
	if inner != nil {
		return inner.Value(key)
	}
	return c.parent.Value(key)
}

// Started reports whether Done or Err has been called (for tests and
// diagnostics).
func (c *Context) Started() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inner != nil
}
