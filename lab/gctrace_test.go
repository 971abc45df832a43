package lab

import (
	"strings"
	"testing"
	"time"
)

func TestParseGCTrace(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		n     int
		pause time.Duration
		ok    bool
	}{
		{"Go 1.26 line", "gc 12 @3.046s 1%: 0.021+1.2+0.014 ms clock, 0.021+0.3/0.8/0+0.014 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 1 P", 12, 35 * time.Microsecond, true},
		{"forced GC", "gc 3 @0.5s 0%: 0.5+0+0.25 ms clock, 0+0/0/0+0 ms cpu, 1->1->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 1 P (forced)", 3, 750 * time.Microsecond, true},
		{"scavenger line", "scvg: 0 MB released", 0, 0, false},
		{"not a triple", "gc 1 @0.1s 0%: 0.1+0.2 ms clock, x", 0, 0, false},
		{"negative term", "gc 1 @0.1s 0%: -1+0.2+0.1 ms clock, x", 0, 0, false},
		{"other log line", "time=... level=INFO msg=listening", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseGCTrace([]byte(tt.line))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && (c.N != tt.n || c.Pause != tt.pause) {
				t.Fatalf("parseGCTrace = %+v, want cycle %d pause %v", c, tt.n, tt.pause)
			}
		})
	}
}

func FuzzParseGCTrace(f *testing.F) {
	f.Add([]byte("gc 12 @3.046s 1%: 0.021+1.2+0.014 ms clock, 0.021+0.3/0.8/0+0.014 ms cpu, 4->4->1 MB, 4 MB goal, 1 P"))
	f.Add([]byte("gc 1 @0s 0%: 1e308+0+1e308 ms clock, "))
	f.Add([]byte("gc x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseGCTrace(b)
		if err == nil && (c.Pause < 0 || c.N < 0) {
			t.Fatalf("parsed %q as %+v", b, c)
		}
	})
}

// TestGCLog: the window a round reads is the cycles after its mark.
func TestGCLog(t *testing.T) {
	var g gcLog
	g.line([]byte("gc 1 @0.1s 0%: 0.1+1+0.1 ms clock, x"))
	m := g.mark()
	g.line([]byte("not gc"))
	for i := 2; i <= 3; i++ {
		g.line([]byte(strings.Replace("gc N @0.2s 0%: 0.2+1+0.2 ms clock, x", "N", string(rune('0'+i)), 1)))
	}
	got := g.since(m)
	if len(got) != 2 || got[0].N != 2 || got[1].N != 3 {
		t.Fatalf("since(mark) = %+v, want cycles 2 and 3", got)
	}
}
