package policy

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzValidRequestID checks ValidRequestID against its definition and that an
// accepted ID is safe to echo in a header.
func FuzzValidRequestID(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", "5f1c2a9be07d4c31-000000000000002a", strings.Repeat("x", 129), "\x00", "é", "~!#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ValidRequestID(s)
		want := len(s) >= 1 && len(s) <= MaxRequestIDLen
		for _, r := range []byte(s) {
			if r < '!' || r > '~' {
				want = false
			}
		}
		if got != want {
			t.Fatalf("ValidRequestID(%q) = %v, want %v", s, got, want)
		}
		if got != ValidRequestIDBytes([]byte(s)) {
			t.Fatalf("ValidRequestIDBytes disagrees on %q", s)
		}
		if got && strings.ContainsAny(s, "\r\n\x00 ") {
			t.Fatalf("accepted an ID that breaks a header: %q", s)
		}
	})
}

// FuzzClientIP checks that ClientIP never panics, that a returned address is
// valid, unmapped and zone-free, and that its rate-limit key is stable.
func FuzzClientIP(f *testing.F) {
	f.Add("192.0.2.1:80", "X-Forwarded-For", "203.0.113.1, 198.51.100.2")
	f.Add("[::1]:1", "X-Real-IP", "::ffff:1.2.3.4")
	f.Add("[fe80::1%eth0]:80", "", "")
	f.Add("junk", "X-Forwarded-For", ",,, ,")
	f.Fuzz(func(t *testing.T, remote, header, value string) {
		a, ok := ClientIP(remote, header, value)
		if !ok {
			if a.IsValid() {
				t.Fatalf("not ok but valid address %v", a)
			}
			return
		}
		if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("ClientIP(%q, %q, %q) = %v: want valid, unmapped, no zone", remote, header, value, a)
		}
		for _, p := range []int{0, 48, 64, 128} {
			k := string(AppendClientKey(nil, a, p))
			if k != string(AppendClientKey([]byte("prefix"), a, p)[len("prefix"):]) {
				t.Fatalf("key of %v depends on dst", a)
			}
			if a.Is4() {
				if back, err := netip.ParseAddr(k); err != nil || back != a {
					t.Fatalf("IPv4 key %q does not round-trip to %v", k, a)
				}
			} else if _, err := netip.ParsePrefix(k); err != nil && p != 128 {
				t.Fatalf("IPv6 key %q is not a prefix: %v", k, err)
			}
		}
	})
}

// FuzzParseBearer checks ParseBearer on arbitrary Authorization values: an
// accepted token is a valid b64token that round-trips.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x==", "Bearer", "Basic abc", "Bearer a b", "Bearer =", ""} {
		f.Add(s)
	}
	a, err := NewBearerAuth([]string{"right-token"}, "r")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := ParseBearer(h)
		if !ok {
			if tok != "" {
				t.Fatalf("not ok but token %q", tok)
			}
			if a.Check(h) {
				t.Fatalf("Check accepted unparsable %q", h)
			}
			return
		}
		if !validB64Token(tok) || !strings.HasSuffix(h, tok) {
			t.Fatalf("ParseBearer(%q) = %q", h, tok)
		}
		if tok2, ok2 := ParseBearer("Bearer " + tok); !ok2 || tok2 != tok {
			t.Fatalf("token %q does not round-trip", tok)
		}
		if a.Check(h) != (tok == "right-token") {
			t.Fatalf("Check(%q) wrong", h)
		}
	})
}

// FuzzPreflightHeaders checks the Access-Control-Request-Headers parser: a
// list is allowed exactly when each of its non-empty items is.
func FuzzPreflightHeaders(f *testing.F) {
	for _, s := range []string{"content-type", "Content-Type, X-Request-ID", ",,", " x-secret ", "authorization,x"} {
		f.Add(s)
	}
	p, err := NewCORSPolicy(CORSConfig{AllowedOrigins: []string{"*"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, list string) {
		want := true
		for _, item := range strings.Split(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			switch strings.ToLower(item) {
			case "content-type", "authorization", "x-request-id":
			default:
				want = false
			}
		}
		if got := p.PreflightAllowed("GET", list); got != want {
			t.Fatalf("PreflightAllowed(%q) = %v, want %v", list, got, want)
		}
	})
}
