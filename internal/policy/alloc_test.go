package policy

import (
	"net/http"
	"testing"
	"time"
	"unsafe"
)

// TestAllocs turns the allocation figures of the README into promises. The
// default chain makes one allocation per request: the per-request state that
// is both the context and the request copy (see reqState).
func TestAllocs(t *testing.T) {
	if n := unsafe.Sizeof(reqState{}); n > 480 {
		t.Errorf("reqState is %d bytes: keep it in the 480-byte size class", n)
	}
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	m := newBenchMetrics(t)
	cases := []struct {
		name string
		h    http.Handler
		max  float64
	}{
		{"bare", bareHandler, 0},
		{"default chain", defaultChain(m)(Labeled("/time", bareHandler)), 1},
		{"Recover", Recover(nil)(bareHandler), 0},
		{"RequestID", RequestID()(bareHandler), 1},
		{"Metrics", Metrics(m)(Labeled("/time", bareHandler)), 0},
		{"Timeout", Timeout(time.Minute)(bareHandler), 1},
		{"Shed", Shed(10)(bareHandler), 0},
		{"CORS without Origin", CORS(CORSConfig{AllowedOrigins: []string{"*"}})(bareHandler), 0},
		{"CORS allowed origin", CORS(CORSConfig{AllowedOrigins: []string{"https://a.example"}})(bareHandler), 0},
		{"RateLimit known client", RateLimit(RateLimitConfig{Rate: 1e9})(bareHandler), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := benchRequest(t)
			r.Header.Set("Origin", "https://a.example")
			w := &benchWriter{h: make(http.Header, 8)}
			got := testing.AllocsPerRun(1000, func() {
				w.reset()
				c.h.ServeHTTP(w, r)
			})
			if got > c.max {
				t.Errorf("%v allocations per request, want at most %v", got, c.max)
			}
		})
	}
}
