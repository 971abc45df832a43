package policy

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	tokens := []string{"s3cr3t", "other-token_2~"}
	cases := []struct {
		name      string
		authz     []string
		wantCode  int
		wantChall string
	}{
		{"missing", nil, 401, `Bearer realm="hotpath"`},
		{"valid token", []string{"Bearer s3cr3t"}, 200, ""},
		{"second token", []string{"Bearer other-token_2~"}, 200, ""},
		{"scheme is case-insensitive", []string{"bearer s3cr3t"}, 200, ""},
		{"wrong token", []string{"Bearer nope"}, 401, `Bearer realm="hotpath", error="invalid_token"`},
		{"prefix of a token", []string{"Bearer s3cr3"}, 401, `Bearer realm="hotpath", error="invalid_token"`},
		{"token plus suffix", []string{"Bearer s3cr3tX"}, 401, `Bearer realm="hotpath", error="invalid_token"`},
		{"basic scheme", []string{"Basic czNjcjN0"}, 401, `Bearer realm="hotpath", error="invalid_token"`},
		{"empty token", []string{"Bearer "}, 401, `Bearer realm="hotpath", error="invalid_token"`},
		{"two headers", []string{"Bearer s3cr3t", "Bearer s3cr3t"}, 401, `Bearer realm="hotpath", error="invalid_token"`},
	}
	h := Auth(tokens, "hotpath")(okHandler)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("GET", "/", nil)
			for _, v := range c.authz {
				req.Header.Add("Authorization", v)
			}
			rec := serve(h, req)
			if rec.Code != c.wantCode {
				t.Errorf("code %d, want %d", rec.Code, c.wantCode)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != c.wantChall {
				t.Errorf("WWW-Authenticate = %q, want %q", got, c.wantChall)
			}
			if c.wantCode == 401 && strings.Contains(rec.Body.String(), "ok") {
				t.Error("handler ran on a 401")
			}
		})
	}
}

func TestAuthRealmQuoted(t *testing.T) {
	t.Parallel()
	a, err := NewBearerAuth([]string{"t"}, `a "b" \c`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Challenge(false), `Bearer realm="a \"b\" \\c"`; got != want {
		t.Errorf("challenge %q, want %q", got, want)
	}
}

func TestNewBearerAuthErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tokens []string
		realm  string
	}{
		{"no tokens", nil, "r"},
		{"empty token", []string{""}, "r"},
		{"space in token", []string{"a b"}, "r"},
		{"padding in the middle", []string{"a=b"}, "r"},
		{"control character in realm", []string{"t"}, "a\nb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewBearerAuth(c.tokens, c.realm); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestParseBearer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		tok  string
		isOK bool
	}{
		{"Bearer abc", "abc", true},
		{"BEARER abc==", "abc==", true},
		{"Bearer   spaced", "spaced", true},
		{"Bearer", "", false},
		{"Bearerabc", "", false},
		{"Bearer a b", "", false},
		{"Bearer =", "", false},
		{"Token abc", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		tok, ok := ParseBearer(c.in)
		if tok != c.tok || ok != c.isOK {
			t.Errorf("ParseBearer(%q) = %q %v, want %q %v", c.in, tok, ok, c.tok, c.isOK)
		}
	}
}
