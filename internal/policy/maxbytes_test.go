package policy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// chunkedReader hides its length so the request has ContentLength -1.
type chunkedReader struct{ io.Reader }

func TestMaxBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		body       io.Reader
		length     int64 // ContentLength to set; -1 unknown
		wantCode   int
		wantCalled bool
	}{
		{"under the limit", strings.NewReader("12345"), 5, 200, true},
		{"exactly the limit", strings.NewReader("1234567890"), 10, 200, true},
		{"declared length over: 413 up front", strings.NewReader("12345678901"), 11, 413, false},
		{"chunked over: handler sees MaxBytesError", chunkedReader{strings.NewReader(strings.Repeat("x", 100))}, -1, 413, true},
		{"chunked under", chunkedReader{strings.NewReader("abc")}, -1, 200, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			called := false
			h := MaxBytes(10)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				if _, err := io.ReadAll(r.Body); err != nil {
					var mbe *http.MaxBytesError
					if !errors.As(err, &mbe) || mbe.Limit != 10 {
						t.Errorf("read error %v, want *http.MaxBytesError with limit 10", err)
					}
					http.Error(w, "too large", http.StatusRequestEntityTooLarge)
					return
				}
			}))
			req := httptest.NewRequest("POST", "/", c.body)
			req.ContentLength = c.length
			rec := serve(h, req)
			if rec.Code != c.wantCode || called != c.wantCalled {
				t.Errorf("code %d called %v, want %d %v", rec.Code, called, c.wantCode, c.wantCalled)
			}
		})
	}
}

func TestMaxBytesDisabled(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 1000)))
	if rec := serve(MaxBytes(0)(okHandler), req); rec.Code != 200 {
		t.Errorf("MaxBytes(0): %d, want 200", rec.Code)
	}
}
