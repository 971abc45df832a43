package policy

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestTake drives the bucket as a pure function of time: no clock, no sleep.
func TestTake(t *testing.T) {
	t.Parallel()
	type step struct {
		at       time.Duration // since t0
		wantOK   bool
		wantWait time.Duration
	}
	cases := []struct {
		name  string
		rate  float64
		burst float64
		steps []step
	}{
		{"burst then refused, refill after 1/rate", 2, 2, []step{
			{0, true, 0}, {0, true, 0}, {0, false, 500 * time.Millisecond},
			{250 * time.Millisecond, false, 250 * time.Millisecond},
			{500 * time.Millisecond, true, 0},
			{500 * time.Millisecond, false, 500 * time.Millisecond},
		}},
		{"idle time refills only up to burst", 10, 3, []step{
			{0, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0},
			{time.Hour, false, 100 * time.Millisecond},
		}},
		{"slow rate: long wait", 0.1, 1, []step{{0, true, 0}, {time.Second, false, 9 * time.Second}}},
		{"time going backwards does not refill", 1, 1, []step{{time.Second, true, 0}, {0, false, time.Second}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := &bucket{tokens: c.burst, last: t0}
			for i, s := range c.steps {
				ok, wait := take(b, t0.Add(s.at), c.rate, c.burst)
				if ok != s.wantOK || (absDur(wait-s.wantWait) > time.Microsecond) {
					t.Fatalf("step %d at %v: got %v %v, want %v %v", i, s.at, ok, wait, s.wantOK, s.wantWait)
				}
			}
		})
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestRateLimiterPerKey(t *testing.T) {
	t.Parallel()
	l, err := NewRateLimiter(RateLimitConfig{Rate: 1, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.Allow("a", t0); !ok {
		t.Fatal("a's first request refused")
	}
	if ok, wait := l.Allow("a", t0); ok || wait != time.Second {
		t.Fatalf("a's second request: %v %v, want refused, wait 1s", ok, wait)
	}
	if ok, _ := l.AllowBytes([]byte("b"), t0); !ok {
		t.Fatal("b is limited by a's bucket")
	}
	if ok, _ := l.AllowBytes([]byte("a"), t0.Add(time.Second)); !ok {
		t.Fatal("a not refilled after 1s")
	}
}

func TestRateLimiterBoundedMemory(t *testing.T) {
	t.Parallel()
	l, err := NewRateLimiter(RateLimitConfig{Rate: 1, Burst: 1, MaxClients: 32})
	if err != nil {
		t.Fatal(err)
	}
	// 1000 distinct clients within the same instant: none is idle, so only the
	// cap keeps memory bounded.
	for i := range 1000 {
		l.Allow(fmt.Sprint("client-", i), t0)
	}
	if n := l.Len(); n > 32 {
		t.Errorf("%d clients tracked, want at most 32 (MaxClients)", n)
	}
	// The most recent client is still limited (kept), the oldest was forgotten.
	if ok, _ := l.Allow("client-999", t0); ok {
		t.Error("most recent client forgotten")
	}
	if ok, _ := l.Allow("client-0", t0); !ok {
		t.Error("oldest client still tracked beyond the cap")
	}
}

func TestRateLimiterForgetsIdleClients(t *testing.T) {
	t.Parallel()
	l, err := NewRateLimiter(RateLimitConfig{Rate: 10, Burst: 10, MaxClients: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		l.Allow(fmt.Sprint("idle-", i), t0)
	}
	before := l.Len()
	// Much later every bucket is full again; new clients push idle ones out.
	for i := range 500 {
		l.Allow(fmt.Sprint("new-", i), t0.Add(time.Hour))
	}
	if after := l.Len(); after >= before+500 {
		t.Errorf("tracked %d then %d: idle clients were not forgotten", before, after)
	}
}

func TestRateLimitConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cfg   RateLimitConfig
		valid bool
	}{
		{"zero value", RateLimitConfig{}, true},
		{"fractional rate", RateLimitConfig{Rate: 0.5}, true},
		{"negative rate", RateLimitConfig{Rate: -1}, false},
		{"NaN rate", RateLimitConfig{Rate: math.NaN()}, false},
		{"infinite rate", RateLimitConfig{Rate: math.Inf(1)}, false},
		{"negative burst", RateLimitConfig{Burst: -1}, false},
		{"negative max clients", RateLimitConfig{MaxClients: -1}, false},
		{"IPv6 prefix too long", RateLimitConfig{IPv6Prefix: 129}, false},
		{"bad header name", RateLimitConfig{TrustedHeader: "X Forwarded"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if err := c.cfg.Validate(); (err == nil) != c.valid {
				t.Errorf("Validate() = %v, want valid=%v", err, c.valid)
			}
		})
	}
	l, _ := NewRateLimiter(RateLimitConfig{Rate: 0.5})
	if got := l.Config(); got.Rate != 0.5 || got.Burst != 1 || got.MaxClients != 100_000 || got.IPv6Prefix != 64 {
		t.Errorf("defaults = %+v", got)
	}
}

func TestRateLimitMiddleware(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		cfg       RateLimitConfig
		reqs      []struct{ remote, xff string }
		wantCodes []int
	}{
		{"per peer address", RateLimitConfig{Rate: 0.5, Burst: 1}, []struct{ remote, xff string }{
			{"10.0.0.1:1000", ""}, {"10.0.0.1:2000", ""}, {"10.0.0.2:1000", ""},
		}, []int{200, 429, 200}},
		{"untrusted header is ignored", RateLimitConfig{Rate: 0.5, Burst: 1}, []struct{ remote, xff string }{
			{"10.0.0.1:1000", "1.1.1.1"}, {"10.0.0.1:1000", "2.2.2.2"},
		}, []int{200, 429}},
		{"trusted X-Forwarded-For: rightmost entry", RateLimitConfig{Rate: 0.5, Burst: 1, TrustedHeader: "X-Forwarded-For"}, []struct{ remote, xff string }{
			{"10.0.0.9:1", "6.6.6.6, 1.1.1.1"}, {"10.0.0.9:1", "7.7.7.7, 1.1.1.1"}, {"10.0.0.9:1", "2.2.2.2"},
		}, []int{200, 429, 200}},
		{"IPv6 clients share their /64", RateLimitConfig{Rate: 0.5, Burst: 1}, []struct{ remote, xff string }{
			{"[2001:db8::1]:1", ""}, {"[2001:db8::2]:1", ""}, {"[2001:db8:0:1::1]:1", ""},
		}, []int{200, 429, 200}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := RateLimit(c.cfg)(okHandler)
			for i, r := range c.reqs {
				req := httptest.NewRequest("GET", "/", nil)
				req.RemoteAddr = r.remote
				if r.xff != "" {
					req.Header.Set("X-Forwarded-For", r.xff)
				}
				rec := serve(h, req)
				if rec.Code != c.wantCodes[i] {
					t.Fatalf("request %d: code %d, want %d", i, rec.Code, c.wantCodes[i])
				}
				if rec.Code == 429 && rec.Header().Get("Retry-After") != "2" {
					t.Errorf("Retry-After = %q, want 2 (1 token at 0.5/s)", rec.Header().Get("Retry-After"))
				}
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	cases := map[time.Duration]int{0: 1, time.Nanosecond: 1, time.Second: 1, time.Second + 1: 2, 2500 * time.Millisecond: 3, time.Minute: 60}
	for in, want := range cases {
		if got := RetryAfterSeconds(in); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", in, got, want)
		}
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, remote, header, value string
		want                        string // "" means not ok
	}{
		{"IPv4 with port", "192.0.2.1:5555", "", "", "192.0.2.1"},
		{"IPv6 with port", "[2001:db8::1]:80", "", "", "2001:db8::1"},
		{"IPv6 zone dropped", "[fe80::1%eth0]:80", "", "", "fe80::1"},
		{"bare address", "192.0.2.1", "", "", "192.0.2.1"},
		{"IPv4-mapped unmapped", "[::ffff:192.0.2.1]:1", "", "", "192.0.2.1"},
		{"garbage", "pipe", "", "", ""},
		{"empty", "", "", "", ""},
		{"XFF rightmost", "10.0.0.1:1", "X-Forwarded-For", "203.0.113.9, 198.51.100.7", "198.51.100.7"},
		{"XFF trailing empty entry skipped", "10.0.0.1:1", "X-Forwarded-For", "198.51.100.7, ", "198.51.100.7"},
		{"XFF garbage from the proxy: peer", "10.0.0.1:1", "X-Forwarded-For", "198.51.100.7, junk", "10.0.0.1"},
		{"XFF with port", "10.0.0.1:1", "x-forwarded-for", "[2001:db8::5]:443", "2001:db8::5"},
		{"X-Real-IP", "10.0.0.1:1", "X-Real-IP", " 198.51.100.8 ", "198.51.100.8"},
		{"X-Real-IP garbage: peer", "10.0.0.1:1", "X-Real-IP", "nope", "10.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, ok := ClientIP(c.remote, c.header, c.value)
			if c.want == "" {
				if ok {
					t.Errorf("got %v, want not ok", a)
				}
				return
			}
			if !ok || a.String() != c.want {
				t.Errorf("got %v %v, want %s", a, ok, c.want)
			}
		})
	}
}

func TestAppendClientKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr   string
		prefix int
		want   string
	}{
		{"192.0.2.1", 64, "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
		{"2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
	}
	for _, c := range cases {
		if got := string(AppendClientKey(nil, netip.MustParseAddr(c.addr), c.prefix)); got != c.want {
			t.Errorf("AppendClientKey(%s, %d) = %q, want %q", c.addr, c.prefix, got, c.want)
		}
	}
	if got := string(AppendClientKey(nil, netip.Addr{}, 64)); got != "unknown" {
		t.Errorf("invalid addr: %q", got)
	}
}

func TestRateLimitPanicsOnBadConfig(t *testing.T) {
	t.Parallel()
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "hotpath:") {
			t.Errorf("recovered %v, want a hotpath: panic", v)
		}
	}()
	RateLimit(RateLimitConfig{Rate: -1})
}

var _ http.Handler = RateLimit(RateLimitConfig{})(okHandler)
