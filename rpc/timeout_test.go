package rpc

import (
	"testing"
	"time"
)

func TestParseTimeout(t *testing.T) {
	cases := []struct {
		name, in string
		want     time.Duration
		wantErr  bool
	}{
		{"seconds", "4S", 4 * time.Second, false},
		{"hours", "2H", 2 * time.Hour, false},
		{"minutes", "3M", 3 * time.Minute, false},
		{"millis", "250m", 250 * time.Millisecond, false},
		{"micros", "7u", 7 * time.Microsecond, false},
		{"nanos", "99999999n", 99999999, false},
		{"8 digits of hours saturate instead of overflowing", "99999999H", time.Duration(1<<63 - 1), false},
		{"no unit", "10", 0, true},
		{"unknown unit", "10s", 0, true},
		{"no digits", "S", 0, true},
		{"nine digits", "123456789S", 0, true},
		{"sign", "-1S", 0, true},
		{"space", " 1S", 0, true},
		{"empty", "", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTimeout(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseTimeout(%q) = %v, %v; want %v, err=%v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func FuzzParseTimeout(f *testing.F) {
	for _, s := range []string{"1S", "99999999H", "250m", "", "1", "x1S", "00000000n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseTimeout(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("error with duration %v", d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("parseTimeout(%q) = %v, negative", s, d)
		}
		if len(s) < 2 || len(s) > 9 {
			t.Fatalf("parseTimeout accepted %q", s)
		}
	})
}
