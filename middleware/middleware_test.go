package middleware_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/middleware"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "ok")
})

// TestConstructorsRefuseBadConfig: each constructor that takes a
// configuration returns an error for a bad one (the package's one way to
// build a middleware never panics on input).
func TestConstructorsRefuseBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  func() error
	}{
		{"Auth without tokens", func() error { _, err := middleware.Auth(nil, "r"); return err }},
		{"Auth with a space in a token", func() error { _, err := middleware.Auth([]string{"a b"}, "r"); return err }},
		{"CORS with credentials and any origin", func() error {
			_, err := middleware.CORS(middleware.CORSConfig{AllowedOrigins: []string{"*"}, AllowCredentials: true})
			return err
		}},
		{"RateLimit with a negative rate", func() error {
			_, err := middleware.RateLimit(middleware.RateLimitConfig{Rate: -1})
			return err
		}},
		{"AccessLog with a negative sample", func() error {
			_, _, err := middleware.AccessLog(middleware.AccessLogConfig{Sample: -1})
			return err
		}},
		{"Metrics registered twice", func() error {
			reg := prometheus.NewRegistry()
			if _, err := middleware.Metrics(reg); err != nil {
				return errors.New("first registration failed: " + err.Error())
			}
			_, err := middleware.Metrics(reg)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.err(); err == nil {
				t.Error("got no error")
			}
		})
	}
}

// TestChainOfConstructors builds every middleware through its constructor and
// checks that the chain answers and refuses as documented.
func TestChainOfConstructors(t *testing.T) {
	t.Parallel()
	auth, err := middleware.Auth([]string{"s3cret"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	cors, err := middleware.CORS(middleware.CORSConfig{AllowedOrigins: []string{"https://app.example"}})
	if err != nil {
		t.Fatal(err)
	}
	limit, err := middleware.RateLimit(middleware.RateLimitConfig{Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	access, closer, err := middleware.AccessLog(middleware.AccessLogConfig{Out: &logged})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := middleware.Metrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := middleware.Chain(middleware.Recover(nil), middleware.RequestID(), access, metrics,
		middleware.Shed(10), limit, cors, auth, middleware.Timeout(0), middleware.MaxBytes(4))(middleware.Labeled("/x", ok))

	for _, tc := range []struct {
		name   string
		header map[string]string
		body   string
		want   int
	}{
		{"no token", nil, "", http.StatusUnauthorized},
		{"token", map[string]string{"Authorization": "Bearer s3cret"}, "", http.StatusOK},
		{"body over MaxBytes", map[string]string{"Authorization": "Bearer s3cret"}, "12345", http.StatusRequestEntityTooLarge},
	} {
		r := httptest.NewRequest("POST", "/x", strings.NewReader(tc.body))
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.want)
		}
		if w.Header().Get(middleware.RequestIDHeader) == "" {
			t.Errorf("%s: no %s on the response", tc.name, middleware.RequestIDHeader)
		}
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logged.String(), "\n"); got != 3 {
		t.Errorf("access log has %d lines, want 3:\n%s", got, logged.String())
	}
}
