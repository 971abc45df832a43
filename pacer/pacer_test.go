package pacer

import (
	"math"
	"testing"
	"time"
)

func TestNewConstantRejectsBadRates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		rate float64
	}{
		{"zero would never send", 0},
		{"negative has no meaning", -5},
		{"NaN is not a rate", math.NaN()},
		{"infinity cannot be scheduled", math.Inf(1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewConstant(tt.rate); err == nil {
				t.Fatalf("NewConstant(%v) accepted", tt.rate)
			}
		})
	}
}

func TestConstantDue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rate float64
		hit  uint64
		want time.Duration
	}{
		{"first request is due at the start", 1000, 0, 0},
		{"1000/s spaces requests 1ms apart", 1000, 1, time.Millisecond},
		{"request 500 at 1000/s is due at 500ms", 1000, 500, 500 * time.Millisecond},
		{"fractional rate 0.5/s is one every 2s", 0.5, 3, 6 * time.Second},
		{"high rate keeps sub-microsecond spacing", 3e6, 3, time.Microsecond},
		{"far into a long run stays exact", 100, 360000, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewConstant(tt.rate)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Due(tt.hit)
			if !ok || got != tt.want {
				t.Fatalf("Due(%d) = %v, %v; want %v, true", tt.hit, got, ok, tt.want)
			}
		})
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	p, _ := NewConstant(100) // one every 10ms
	tests := []struct {
		name            string
		elapsed         time.Duration
		hits            uint64
		wantDue, wantWt time.Duration
	}{
		{"at start the first request goes now", 0, 0, 0, 0},
		{"early: wait for the slot", 3 * time.Millisecond, 1, 10 * time.Millisecond, 7 * time.Millisecond},
		{"exactly on time: no wait", 20 * time.Millisecond, 2, 20 * time.Millisecond, 0},
		{"late: send now but keep the intended time", 95 * time.Millisecond, 3, 30 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, wait, stop := Wait(p, tt.elapsed, tt.hits)
			if stop || due != tt.wantDue || wait != tt.wantWt {
				t.Fatalf("Wait = (%v, %v, %v), want (%v, %v, false)", due, wait, stop, tt.wantDue, tt.wantWt)
			}
		})
	}
}

func TestWaitStopsWhenScheduleEnds(t *testing.T) {
	t.Parallel()
	three := Func(func(h uint64) (time.Duration, bool) { return time.Duration(h) * time.Second, h < 3 })
	if _, _, stop := Wait(three, 0, 2); stop {
		t.Fatal("third request should still be scheduled")
	}
	if _, _, stop := Wait(three, 0, 3); !stop {
		t.Fatal("fourth request should stop the schedule")
	}
}

// TestConstantCountOverWindow checks the schedule sends exactly rate×duration
// requests in a window, computed from the pure function alone.
func TestConstantCountOverWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rate    float64
		elapsed time.Duration
		want    uint64
	}{
		{"1000/s for 2s", 1000, 2*time.Second - 1, 2000},
		{"7/s for 1s", 7, time.Second - 1, 7},
		{"50k/s for 10s", 50000, 10*time.Second - 1, 500000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := NewConstant(tt.rate)
			if got := Behind(p, tt.elapsed, 0); got != tt.want {
				t.Fatalf("requests due by %v = %d, want %d", tt.elapsed, got, tt.want)
			}
		})
	}
}

func BenchmarkConstantWait(b *testing.B) {
	p, _ := NewConstant(50000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Wait(p, time.Duration(i)*time.Microsecond, uint64(i))
	}
}
