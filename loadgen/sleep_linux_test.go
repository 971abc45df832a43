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

// TestFineSleeperTinySleepsReturn: a timer that expires before the wait
// starts (tiny sleeps) must still end the sleep — the sleeper reads the
// expiry itself instead of waiting for a readiness the poller already
// dropped (without that, a sleep can hang when the poller ran in between).
func TestFineSleeperTinySleepsReturn(t *testing.T) {
	t.Parallel()
	s, err := newFineSleeper()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for i := range 2000 {
		d := time.Duration(1 + i%20) // 1-20ns: expired by the time Read starts
		if i%2 == 1 {
			d *= time.Microsecond
		}
		if err := s.sleep(d); err != nil {
			t.Fatal(err)
		}
	}
}
