package server

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = valid
	}{
		{"zero value is valid", Config{}, ""},
		{"loopback admin needs no token", Config{AdminAddr: "127.0.0.1:9"}, ""},
		{"localhost admin needs no token", Config{AdminAddr: "localhost:9"}, ""},
		{"ipv6 loopback admin needs no token", Config{AdminAddr: "[::1]:9"}, ""},
		{"all-interfaces admin needs a token", Config{AdminAddr: ":6060"}, "admin-token"},
		{"public IP admin needs a token", Config{AdminAddr: "10.0.0.1:6060"}, "admin-token"},
		{"hostname admin needs a token", Config{AdminAddr: "example.com:6060"}, "admin-token"},
		{"non-loopback admin with token is fine", Config{AdminAddr: ":6060", AdminToken: "s3cret"}, ""},
		{"admin off needs nothing", Config{AdminAddr: "off"}, ""},
		{"admin on the public address", Config{Addr: "127.0.0.1:8080", AdminAddr: "127.0.0.1:8080"}, "admin-addr"},
		{"addr without port", Config{Addr: "localhost"}, "addr"},
		{"cert without key", Config{TLSCert: "a.pem"}, "tls-cert/tls-key"},
		{"self-signed and files", Config{TLSCert: "a", TLSKey: "b", TLSSelfSigned: true}, "tls-self-signed"},
		{"h2c with TLS", Config{H2C: true, TLSSelfSigned: true}, "h2c"},
		{"negative timeout", Config{ReadTimeout: -1}, "read-timeout"},
		{"negative drain delay", Config{DrainDelay: -1}, "drain-delay"},
		{"negative max connections", Config{MaxConnections: -1}, "max-connections"},
		{"negative max body", Config{MaxBodyBytes: -1}, "max-body-bytes"},
		{"bad access log format", Config{AccessLogFormat: "xml"}, "access-log-format"},
		{"negative rate", Config{RateLimit: -1}, "rate-limit"},
		{"auth route without slash", Config{AuthTokens: []string{"t"}, AuthRoutes: []string{"echo"}}, "auth-routes"},
		{"empty auth token", Config{AuthTokens: []string{""}}, "auth-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error naming %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.Addr != DefaultAddr || c.AdminAddr != DefaultAdminAddr || c.MaxConnections != DefaultMaxConnections ||
		c.MaxInFlight != DefaultMaxInFlight || c.MaxBodyBytes != DefaultMaxBodyBytes || c.RequestTimeout != DefaultRequestTimeout {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.RequestTimeout >= c.WriteTimeout {
		t.Errorf("default request timeout %v must be below write timeout %v, or 503s could not be written", c.RequestTimeout, c.WriteTimeout)
	}
	if c.RequestTimeout <= 10e9 {
		t.Errorf("default request timeout %v must exceed /delay's 10s maximum", c.RequestTimeout)
	}
	set := Config{Addr: ":1", MaxInFlight: 3, RateLimit: 2.5}.WithDefaults()
	if set.Addr != ":1" || set.MaxInFlight != 3 {
		t.Errorf("WithDefaults overwrote set fields: %+v", set)
	}
	if set.RateBurst != 3 {
		t.Errorf("burst for 2.5 req/s = %d, want 3", set.RateBurst)
	}
	if a := (Config{AuthTokens: []string{"x"}}).WithDefaults().AuthRoutes; len(a) != 1 || a[0] != "*" {
		t.Errorf("auth routes default = %q, want [*]", a)
	}
}

func TestAuthRequired(t *testing.T) {
	tests := []struct {
		name   string
		routes []string
		path   string
		want   bool
	}{
		{"star covers service routes", []string{"*"}, "/echo", true},
		{"star spares liveness", []string{"*"}, "/healthz", false},
		{"star spares readiness", []string{"*"}, "/readyz", false},
		{"exact path", []string{"/echo"}, "/echo", true},
		{"exact path is not a prefix", []string{"/echo"}, "/echo/x", false},
		{"other path", []string{"/echo"}, "/time", false},
		{"subtree", []string{"/api/"}, "/api/v1/x", true},
		{"subtree root itself", []string{"/api/"}, "/api/", true},
		{"subtree does not cover sibling", []string{"/api/"}, "/apix", false},
		{"explicit probe path", []string{"/healthz"}, "/healthz", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AuthRequired(tt.routes, tt.path); got != tt.want {
				t.Errorf("AuthRequired(%q, %q) = %v, want %v", tt.routes, tt.path, got, tt.want)
			}
		})
	}
}
