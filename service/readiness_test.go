package service

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// A check added with AddCheck takes /readyz down while it fails, and
// readiness returns by itself when it passes again; draining wins over
// passing checks.
func TestReadinessChecks(t *testing.T) {
	var r Readiness
	var sinkOK, other atomic.Bool
	sinkOK.Store(true)
	other.Store(true)
	r.AddCheck(sinkOK.Load)
	r.AddCheck(other.Load)
	h := ReadyzHandler(&r)
	steps := []struct {
		name             string
		sink, oth, drain bool
		wantReady        bool
	}{
		{"all checks pass", true, true, false, true},
		{"first check fails", false, true, false, false},
		{"second check fails", true, false, false, false},
		{"recovered by itself", true, true, false, true},
		{"draining wins over passing checks", true, true, true, false},
		{"drain ended", true, true, false, true},
	}
	for _, s := range steps {
		sinkOK.Store(s.sink)
		other.Store(s.oth)
		r.SetDraining(s.drain)
		if got := r.Ready(); got != s.wantReady {
			t.Errorf("%s: Ready() = %v", s.name, got)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ReadinessPath, nil))
		want := http.StatusOK
		if !s.wantReady {
			want = http.StatusServiceUnavailable
		}
		if rec.Code != want {
			t.Errorf("%s: /readyz %d, want %d", s.name, rec.Code, want)
		}
	}
}

// AddCheck may run while probes call Ready (the race detector checks it).
func TestReadinessAddCheckConcurrent(t *testing.T) {
	var r Readiness
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); r.AddCheck(func() bool { return true }) }()
		go func() {
			defer wg.Done()
			for range 100 {
				_ = r.Ready()
			}
		}()
	}
	wg.Wait()
	if !r.Ready() {
		t.Error("passing checks: not ready")
	}
	r.AddCheck(func() bool { return false })
	if r.Ready() {
		t.Error("a failing check: still ready")
	}
}
