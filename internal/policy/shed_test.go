package policy

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestShed(t *testing.T) {
	t.Parallel()
	const max = 2
	entered := make(chan struct{}, max)
	release := make(chan struct{})
	h := Shed(max)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered <- struct{}{}
			<-release
		}
	}))
	var wg sync.WaitGroup
	codes := make([]int, max)
	for i := range max {
		wg.Go(func() { codes[i] = serve(h, httptest.NewRequest("GET", "/block", nil)).Code })
	}
	for range max {
		<-entered
	}
	rec := serve(h, httptest.NewRequest("GET", "/extra", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("request over the limit: %d Retry-After=%q, want 503 with Retry-After: 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(release)
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("admitted request %d: %d", i, c)
		}
	}
	if rec := serve(h, httptest.NewRequest("GET", "/extra", nil)); rec.Code != 200 {
		t.Errorf("after the load went away: %d, want 200", rec.Code)
	}
}

func TestShedder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		max   int
		takes int
		want  []bool
	}{
		{"limit 1", 1, 3, []bool{true, false, false}},
		{"limit 2", 2, 3, []bool{true, true, false}},
		{"no limit", 0, 3, []bool{true, true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := NewShedder(c.max)
			for i := range c.takes {
				if got := s.Acquire(); got != c.want[i] {
					t.Fatalf("Acquire #%d = %v, want %v", i, got, c.want[i])
				}
			}
			if c.max > 0 && s.InFlight() != c.max {
				t.Errorf("InFlight = %d after refusals, want %d", s.InFlight(), c.max)
			}
			s.Release()
			if c.max > 0 && !s.Acquire() {
				t.Error("Release did not free a slot")
			}
		})
	}
	if h := Shed(0)(okHandler); h == nil {
		t.Error("Shed(0) returned nil")
	}
}
