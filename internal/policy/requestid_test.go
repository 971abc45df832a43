package policy

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var generatedIDRe = regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{16}$`)

func TestRequestID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		incoming []string // X-Request-ID lines sent, nil for none
		keep     bool     // the incoming ID must be kept
	}{
		{"no header: generated", nil, false},
		{"valid ID is propagated", []string{"abc-123_XYZ.~"}, true},
		{"longest valid ID is propagated", []string{strings.Repeat("a", MaxRequestIDLen)}, true},
		{"too long: replaced", []string{strings.Repeat("a", MaxRequestIDLen+1)}, false},
		{"empty: replaced", []string{""}, false},
		{"space: replaced", []string{"a b"}, false},
		{"control character: replaced", []string{"a\x01b"}, false},
		{"non-ASCII: replaced", []string{"idé"}, false},
		{"first of several lines is used", []string{"first", "second"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest("GET", "/", nil)
			for _, v := range c.incoming {
				req.Header.Add(RequestIDHeader, v)
			}
			rec := serve(h, req)
			got := rec.Header().Values(RequestIDHeader)
			if len(got) != 1 {
				t.Fatalf("response has %d %s values, want 1", len(got), RequestIDHeader)
			}
			if got[0] != seen {
				t.Errorf("response ID %q != handler's RequestIDFrom %q", got[0], seen)
			}
			if c.keep {
				if got[0] != c.incoming[0] {
					t.Errorf("ID = %q, want the incoming %q", got[0], c.incoming[0])
				}
			} else if !generatedIDRe.MatchString(got[0]) {
				t.Errorf("ID = %q, want a generated one", got[0])
			}
		})
	}
}

func TestRequestIDFromWithoutMiddleware(t *testing.T) {
	t.Parallel()
	if id := RequestIDFrom(httptest.NewRequest("GET", "/", nil).Context()); id != "" {
		t.Errorf("RequestIDFrom = %q without the middleware, want empty", id)
	}
}

func TestRequestIDNestedKeepsOuter(t *testing.T) {
	t.Parallel()
	var inner string
	h := Chain(RequestID(), RequestID())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = RequestIDFrom(r.Context())
	}))
	rec := serve(h, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get(RequestIDHeader); got != inner || !generatedIDRe.MatchString(got) {
		t.Errorf("outer ID %q, inner %q: want one generated ID seen by both", got, inner)
	}
}

func TestGeneratedIDsAreUnique(t *testing.T) {
	t.Parallel()
	const workers, each = 4, 500
	var mu sync.Mutex
	seen := make(map[string]bool, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := make([]string, 0, each)
			for range each {
				local = append(local, NewRequestID())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate ID %q", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
	for id := range seen {
		if !generatedIDRe.MatchString(id) || !ValidRequestID(id) {
			t.Fatalf("generated ID %q is malformed or not valid", id)
		}
	}
}

func TestValidRequestIDBytesAgrees(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", "a b", "\x7f", "~!", strings.Repeat("z", 129), "é"} {
		if ValidRequestID(s) != ValidRequestIDBytes([]byte(s)) {
			t.Errorf("ValidRequestID and ValidRequestIDBytes disagree on %q", s)
		}
	}
}
