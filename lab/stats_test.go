package lab

import (
	"math"
	"reflect"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"odd count takes the middle", []float64{3, 1, 2}, 2},
		{"even count averages the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"one value", []float64{7}, 7},
		{"an outlier does not move it", []float64{1, 2, 1000}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := Median(tt.in); got != tt.want {
				t.Fatalf("Median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.in) {
				t.Fatal("Median modified its input")
			}
		})
	}
	if !math.IsNaN(Median(nil)) {
		t.Fatal("Median(nil) is not NaN")
	}
}

func TestSpread(t *testing.T) {
	s := SpreadOf([]float64{5, 2, 9, 4})
	if s != (Spread{2, 9}) {
		t.Fatalf("SpreadOf = %+v, want {2 9}", s)
	}
	if got := s.Relative(5); got != 7.0/5 {
		t.Fatalf("Relative(5) = %v, want 1.4", got)
	}
	if SpreadOf(nil) != (Spread{}) || s.Relative(0) != 0 {
		t.Fatal("empty spread or zero median not handled")
	}
}

func TestInterleave(t *testing.T) {
	got := Interleave([]string{"a", "b", "c"}, 2)
	want := []Step{{1, "a"}, {1, "b"}, {1, "c"}, {2, "a"}, {2, "b"}, {2, "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Interleave = %v, want %v (every round runs every contender once, in order)", got, want)
	}
	if len(Interleave(nil, 3)) != 0 || len(Interleave([]string{"a"}, 0)) != 0 {
		t.Fatal("no contenders or no rounds must give no steps")
	}
}

func TestRatioOf(t *testing.T) {
	tests := []struct {
		name          string
		a, b          []float64
		value, perRnd float64
		ok            bool
	}{
		// Round 2 ran on a busier machine: both doubled. The per-round
		// median sees 1.1 each time; the ratio of medians is the same here.
		{"drift cancels per round", []float64{11, 22, 11}, []float64{10, 20, 10}, 1.1, 1.1, true},
		{"ratio of medians differs from per-round", []float64{10, 30}, []float64{10, 10}, 2, 2, true},
		{"empty side", nil, []float64{1}, 0, 0, false},
		{"zero denominator", []float64{1}, []float64{0}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, p, ok := ratioOf(tt.a, tt.b)
			if ok != tt.ok || math.Abs(v-tt.value) > 1e-9 || math.Abs(p-tt.perRnd) > 1e-9 {
				t.Fatalf("ratioOf = %v, %v, %v; want %v, %v, %v", v, p, ok, tt.value, tt.perRnd, tt.ok)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100 … 1
	}
	for _, tt := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {0, 1}} {
		if got := percentile(xs, tt.p); got != tt.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile([]float64{0.3}, 99); got != 0.3 {
		t.Errorf("one cycle: P99 %v, want 0.3", got)
	}
}
