package server

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzValidate feeds arbitrary addresses, tokens and routes (as they arrive
// from flags and environment variables) to Validate: it must not panic, its
// errors must wrap ErrInvalidConfig and fit on one line (the CLI prints
// them as its single line), and the admin-token rule must hold.
func FuzzValidate(f *testing.F) {
	f.Add(":8080", "127.0.0.1:6060", "", "/echo")
	f.Add(":8080", ":6060", "tok", "*")
	f.Add("localhost", "[::1]:0", "", "echo")
	f.Add("a\nb:1", "x\ny:2", "", "/\n")
	f.Fuzz(func(t *testing.T, addr, admin, token, route string) {
		c := Config{Addr: addr, AdminAddr: admin, AdminToken: token, AuthRoutes: []string{route}, AuthTokens: []string{"t"}}
		err := c.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if admin != "" && admin != AdminOff && token == "" && !IsLoopback(admin) {
			t.Fatalf("non-loopback admin %q accepted without a token", admin)
		}
	})
}

// FuzzIsLoopback checks IsLoopback against a direct reading of the host.
func FuzzIsLoopback(f *testing.F) {
	for _, s := range []string{"127.0.0.1:1", "[::1]:1", "localhost:1", ":1", "0.0.0.0:1", "127.1:1", "[::ffff:127.0.0.1]:1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		got := IsLoopback(addr)
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			if got {
				t.Fatalf("IsLoopback(%q) = true for an unparsable address", addr)
			}
			return
		}
		ip, perr := netip.ParseAddr(host)
		want := host == "localhost" || (perr == nil && ip.IsLoopback())
		if got != want {
			t.Fatalf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	})
}
