package nbioengine

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/server"
)

func TestUnsupportedOptions(t *testing.T) {
	tests := []struct {
		name   string
		cfg    server.Config
		option string
	}{
		{"h2c", server.Config{H2C: true}, "h2c"},
		{"TLS certificate", server.Config{TLSCert: "c.pem", TLSKey: "k.pem"}, "tls-cert"},
		{"self-signed TLS", server.Config{TLSSelfSigned: true}, "tls-self-signed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.AdminAddr = server.AdminOff
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrUnsupported) || !errors.Is(err, server.ErrInvalidConfig) {
				t.Fatalf("New: %v; want ErrUnsupported and ErrInvalidConfig", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.option) || !strings.Contains(msg, "nbio") {
				t.Errorf("error %q does not name option %q and the engine", msg, tc.option)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	if _, err := New(server.Config{AdminAddr: "0.0.0.0:6060"}); !errors.Is(err, server.ErrInvalidConfig) {
		t.Fatalf("non-loopback admin without a token: %v; want ErrInvalidConfig", err)
	}
}

func TestHeaderBytes(t *testing.T) {
	r := httptest.NewRequest("GET", "/time", nil)
	r.Header = http.Header{"A": {"bc"}}
	// "GET" + "/time" + "HTTP/1.1" + 4, then "A" + "bc" + 4
	if got, want := headerBytes(r), 3+5+8+4+1+2+4; got != want {
		t.Fatalf("headerBytes %d, want %d", got, want)
	}
}
