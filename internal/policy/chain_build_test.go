package policy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestBuildRefusesBadOption: a refused Config value is an *OptionError that
// names the option the way hotpath serve's flag does, and nothing keeps
// running (goleak checks the access log's flusher).
func TestBuildRefusesBadOption(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    Config
		option string
	}{
		{"negative access log sample", Config{AccessLog: true, AccessLogSample: -1}, "access-log"},
		{"negative burst", Config{RateLimit: 1, RateBurst: -1}, "rate-limit"},
		{"origin without a scheme", Config{CORSOrigins: []string{"app.example"}}, "cors-origins"},
		{"token with a space, access log on", Config{AccessLog: true, AccessLogOut: io.Discard, AuthTokens: []string{"a b"}}, "auth-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Build(tt.cfg, prometheus.NewRegistry())
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != tt.option {
				t.Fatalf("Build = %v, %v; want an *OptionError for %q", p, err, tt.option)
			}
		})
	}
}

// TestBuildZeroConfig: the zero Config turns every optional piece off; the
// metrics and the shedder are always there.
func TestBuildZeroConfig(t *testing.T) {
	t.Parallel()
	p, err := Build(Config{}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if p.Access != nil || p.Limiter != nil || p.CORS != nil || p.Auth != nil || p.Metrics == nil || p.Shed == nil {
		t.Errorf("Build(Config{}) = %+v", p)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestMiddlewareProbesExempt: the shedder and the rate limiter never refuse
// the probes, and do refuse other paths.
func TestMiddlewareProbesExempt(t *testing.T) {
	t.Parallel()
	p, err := Build(Config{RateLimit: 1, RateBurst: 1}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := p.Middleware(nil, nil)(okHandler)
	for i, tc := range []struct {
		path string
		want int
	}{
		{"/time", http.StatusOK},
		{"/time", http.StatusTooManyRequests},
		{"/healthz", http.StatusOK},
		{"/readyz", http.StatusOK},
	} {
		if got := serve(h, httptest.NewRequest("GET", tc.path, nil)).Code; got != tc.want {
			t.Errorf("request %d to %s: %d, want %d", i, tc.path, got, tc.want)
		}
	}
}

// TestStepNames: every step of Order has a name (used in the fasthttp
// engine's mismatch error).
func TestStepNames(t *testing.T) {
	t.Parallel()
	if len(stepNames) != len(Order) {
		t.Fatalf("%d step names for %d steps", len(stepNames), len(Order))
	}
	for i, s := range Order {
		if s != Step(i) || s.String() != stepNames[i] {
			t.Errorf("Order[%d] = %v", i, s)
		}
	}
}
