package nbioengine

import (
	"errors"
	"net"
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

// TestRefusesGivenListener: nbio binds its own listener (its accept loop
// needs the *net.TCPConn), so a listener handed over is refused at New
// instead of being ignored and closed.
func TestRefusesGivenListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for name, opt := range map[string]server.Option{
		"WithListener":   server.WithListener(ln),
		"WithSharedPort": server.WithSharedPort(server.SharedPort{Listener: ln}),
	} {
		_, err := New(server.Config{AdminAddr: server.AdminOff}, opt)
		if !errors.Is(err, ErrUnsupported) || !errors.Is(err, server.ErrInvalidConfig) || !strings.Contains(err.Error(), "nbio") {
			t.Errorf("%s: New = %v; want ErrUnsupported and ErrInvalidConfig naming nbio", name, err)
		}
	}
}
