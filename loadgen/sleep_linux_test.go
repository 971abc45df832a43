package loadgen

import (
	"testing"
	"time"
)

// TestFineSleeperNeverWakesEarly: the pacer relies on a sleep never ending
// before the due time (it re-reads the clock and would otherwise spin).
func TestFineSleeperNeverWakesEarly(t *testing.T) {
	t.Parallel()
	s, err := newFineSleeper()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, d := range []time.Duration{time.Microsecond, 50 * time.Microsecond, 2 * time.Millisecond} {
		start := time.Now()
		if err := s.sleep(d); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got < d {
			t.Errorf("sleep(%v) returned after %v", d, got)
		}
	}
}
