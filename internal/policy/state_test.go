package policy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// These tests hold the per-request state to the context.Context contract,
// since it replaces context.WithValue and context.WithTimeout on the hot path.

func TestStateWithoutDeadlineIsItsParent(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancel(context.Background())
	st := newState(httptest.NewRequest("GET", "/", nil).WithContext(parent))
	if st.Done() != parent.Done() {
		t.Error("Done is not the parent's channel")
	}
	if _, ok := st.Deadline(); ok {
		t.Error("deadline without Timeout")
	}
	if st.Err() != nil {
		t.Errorf("Err = %v before cancel", st.Err())
	}
	cancel()
	if !errors.Is(st.Err(), context.Canceled) {
		t.Errorf("Err = %v after the parent was canceled", st.Err())
	}
	if st.setDeadline(monoNow()) {
		t.Error("a deadline was set in place after Done was handed out")
	}
}

func TestStateDeadlineFires(t *testing.T) {
	t.Parallel()
	var derivedErr, causeErr error
	Timeout(10*time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A context derived by the standard library must see the deadline.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		<-ctx.Done()
		derivedErr = ctx.Err()
		causeErr = context.Cause(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !errors.Is(derivedErr, context.DeadlineExceeded) {
		t.Errorf("derived context Err = %v, want DeadlineExceeded", derivedErr)
	}
	if !errors.Is(causeErr, context.DeadlineExceeded) {
		t.Errorf("context.Cause = %v, want DeadlineExceeded", causeErr)
	}
}

func TestStateErrAgreesWithDone(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "/", nil).WithContext(parent)
	st, _, _ := deadlineState(r, 0, time.Hour)
	done := st.Done()
	cancel()
	if err := st.Err(); err == nil {
		<-done // Err nil is allowed only until propagation; Done must then close
	} else {
		select {
		case <-done:
		default:
			t.Fatal("Err is non-nil but Done is open")
		}
	}
	<-done
	if !errors.Is(st.Err(), context.Canceled) {
		t.Errorf("Err = %v, want Canceled", st.Err())
	}
}

func TestStateValue(t *testing.T) {
	t.Parallel()
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, 42)
	st := newState(httptest.NewRequest("GET", "/", nil).WithContext(parent))
	if st.Value(key{}) != 42 {
		t.Error("parent value lost")
	}
	if stateFrom(context.WithValue(st, key{}, 1)) != st {
		t.Error("state not found below a derived context")
	}
	if st.req.Context() != st {
		t.Error("the request copy does not carry the state")
	}
}

func TestWallAt(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, time.Millisecond, time.Hour, -time.Minute} {
		now := time.Now()
		m := monoNow() + mono(d)
		got := wallAt(m, time.Now())
		if off := got.Sub(now.Add(d)); off < -time.Second || off > time.Second { // catches a sign or unit error, not speed
			t.Errorf("wallAt(now%+v) is %v off", d, off)
		}
	}
	if monoNow() <= 0 {
		t.Error("monoNow must be positive: 0 means unset")
	}
}
