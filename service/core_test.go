package service

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAppendUnixMilli(t *testing.T) {
	tests := []struct {
		name string
		dst  string
		t    time.Time
		want string
	}{
		{"epoch is zero", "", time.Unix(0, 0), "0"},
		{"milliseconds truncate, not round", "", time.Unix(1, 999_999_999), "1999"},
		{"appends after existing bytes", "t=", time.UnixMilli(1764115200123), "t=1764115200123"},
		{"before the epoch is negative", "", time.UnixMilli(-5), "-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendUnixMilli([]byte(tt.dst), tt.t)); got != tt.want {
				t.Errorf("AppendUnixMilli = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendUnixMilliNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	buf := make([]byte, 0, 24)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { buf = AppendUnixMilli(buf[:0], now) }); n != 0 {
		t.Errorf("AppendUnixMilli allocates %v times per call, want 0", n)
	}
}

func TestParseDelay(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"zero is allowed", "0", 0, false},
		{"typical value", "250", 250 * time.Millisecond, false},
		{"upper bound is inclusive", "10000", 10 * time.Second, false},
		{"leading zeros are still decimal", "007", 7 * time.Millisecond, false},
		{"empty (missing ms) is rejected", "", 0, true},
		{"over the bound", "10001", 0, true},
		{"negative", "-1", 0, true},
		{"explicit plus sign", "+5", 0, true},
		{"unit suffix", "5ms", 0, true},
		{"fraction", "1.5", 0, true},
		{"space", " 5", 0, true},
		{"huge number must not overflow into range", "99999999999999999999", 0, true},
		{"six digits", "000001", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDelay(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDelay(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadDelay) {
				t.Errorf("error %v does not wrap ErrBadDelay", err)
			}
			if got != tt.want {
				t.Errorf("ParseDelay(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseDelay checks ParseDelay against strconv: it accepts exactly the
// unsigned decimal strings of at most 5 digits whose value is ≤ 10000.
func FuzzParseDelay(f *testing.F) {
	for _, s := range []string{"0", "10000", "10001", "-1", "+1", "", "1e3", "0x10", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDelay(s)
		n, aerr := strconv.ParseUint(s, 10, 64)
		wantOK := aerr == nil && len(s) <= 5 && s[0] != '+' && n <= 10000
		if (err == nil) != wantOK {
			t.Fatalf("ParseDelay(%q) err = %v, want ok=%v", s, err, wantOK)
		}
		if err == nil && d != time.Duration(n)*time.Millisecond {
			t.Fatalf("ParseDelay(%q) = %v, want %dms", s, d, n)
		}
		if d < 0 || d > MaxDelay {
			t.Fatalf("ParseDelay(%q) = %v out of range", s, d)
		}
	})
}

func TestReadiness(t *testing.T) {
	var r Readiness
	if !r.Ready() {
		t.Fatal("zero Readiness must be ready")
	}
	r.SetDraining(true)
	if r.Ready() {
		t.Fatal("draining Readiness must not be ready")
	}
	r.SetDraining(false)
	if !r.Ready() {
		t.Fatal("SetDraining(false) must make it ready again")
	}
}

func BenchmarkAppendUnixMilli(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 24)
	now := time.Now()
	for b.Loop() {
		buf = AppendUnixMilli(buf[:0], now)
	}
}
