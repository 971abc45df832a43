package lazyctx

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type key struct{}

func waitDone(t *testing.T, c context.Context, want error) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if !errors.Is(c.Err(), want) {
		t.Fatalf("Err = %v, want %v", c.Err(), want)
	}
}

// Deadline and Value answer without starting anything; Done starts it once.
func TestLazy(t *testing.T) {
	parent := context.WithValue(context.Background(), key{}, "v")
	dl := time.Now().Add(time.Hour)
	starts := 0
	c := New(parent, dl, func(context.CancelFunc) func() { starts++; return func() {} })
	if d, ok := c.Deadline(); !ok || !d.Equal(dl) {
		t.Errorf("Deadline = %v %v", d, ok)
	}
	if c.Value(key{}) != "v" || c.Started() || starts != 0 {
		t.Fatalf("Value %v, started %v, onStart calls %d: want v, not started, 0", c.Value(key{}), c.Started(), starts)
	}
	if c.Err() != nil || !c.Started() || starts != 1 {
		t.Fatalf("Err %v, started %v, onStart calls %d: want nil, started, 1", c.Err(), c.Started(), starts)
	}
	_ = c.Done()
	if starts != 1 || c.Value(key{}) != "v" {
		t.Errorf("second start (%d) or lost value", starts)
	}
	c.End()
	waitDone(t, c, context.Canceled)
}

// Every way a started context ends.
func TestEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(c *Context, cancelParent context.CancelFunc, onStartCancel *context.CancelFunc)
		want error
	}{
		{"deadline passes", func(*Context, context.CancelFunc, *context.CancelFunc) {}, context.DeadlineExceeded},
		{"parent cancelled", func(_ *Context, cp context.CancelFunc, _ *context.CancelFunc) { cp() }, context.Canceled},
		{"OnStart's cancel", func(_ *Context, _ context.CancelFunc, oc *context.CancelFunc) { (*oc)() }, context.Canceled},
		{"End", func(c *Context, _ context.CancelFunc, _ *context.CancelFunc) { c.End() }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancelParent := context.WithCancel(context.Background())
			defer cancelParent()
			dl := time.Now().Add(time.Hour)
			if tc.want == context.DeadlineExceeded {
				dl = time.Now().Add(20 * time.Millisecond)
			}
			var onStartCancel context.CancelFunc
			stopped := false
			c := New(parent, dl, func(cancel context.CancelFunc) func() {
				onStartCancel = cancel
				return func() { stopped = true }
			})
			_ = c.Done() // start
			tc.run(c, cancelParent, &onStartCancel)
			waitDone(t, c, tc.want)
			c.End()
			if !stopped {
				t.Error("End did not call OnStart's stop")
			}
		})
	}
}

// A context first waited on after End is already cancelled, and OnStart
// never runs.
func TestStartAfterEnd(t *testing.T) {
	called := false
	c := New(context.Background(), time.Time{}, func(context.CancelFunc) func() { called = true; return func() {} })
	c.End()
	waitDone(t, c, context.Canceled)
	if called {
		t.Error("OnStart ran after End")
	}
	c.End() // twice is fine
}

// Deadline is the parent's when it is earlier or New's is zero.
func TestDeadline(t *testing.T) {
	now := time.Now()
	early, cancel := context.WithDeadline(context.Background(), now.Add(time.Minute))
	defer cancel()
	for _, tc := range []struct {
		name   string
		parent context.Context
		dl     time.Time
		want   time.Time
		ok     bool
	}{
		{"none", context.Background(), time.Time{}, time.Time{}, false},
		{"own", context.Background(), now.Add(time.Hour), now.Add(time.Hour), true},
		{"parent's earlier", early, now.Add(time.Hour), now.Add(time.Minute), true},
		{"own earlier", early, now.Add(time.Second), now.Add(time.Second), true},
		{"parent's only", early, time.Time{}, now.Add(time.Minute), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := New(tc.parent, tc.dl, nil).Deadline()
			if !d.Equal(tc.want) || ok != tc.ok {
				t.Errorf("Deadline = %v %v, want %v %v", d, ok, tc.want, tc.ok)
			}
		})
	}
}

// A child made with context.WithCancel ends with its lazy parent.
func TestChildEndsWithIt(t *testing.T) {
	c := New(context.Background(), time.Time{}, nil)
	child, cancel := context.WithCancel(c)
	defer cancel()
	if !c.Started() {
		t.Fatal("WithCancel did not start the parent")
	}
	c.End()
	waitDone(t, child, context.Canceled)
}

func BenchmarkNotStarted(b *testing.B) {
	parent := context.Background()
	dl := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		c := New(parent, dl, nil)
		_, _ = c.Deadline()
		c.End()
	}
}

func BenchmarkWithDeadline(b *testing.B) {
	parent := context.Background()
	dl := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		c, cancel := context.WithDeadline(parent, dl)
		_, _ = c.Deadline()
		cancel()
	}
}
