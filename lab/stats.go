package lab

import (
	"math"
	"slices"
)

// Median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Spread is the range of a set of rounds: the noise the report shows beside
// each median.
type Spread struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// SpreadOf returns the minimum and maximum of xs; zeros for none.
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	return Spread{Min: slices.Min(xs), Max: slices.Max(xs)}
}

// Relative returns the spread as a fraction of the median m: (max−min)/m, 0
// when m is 0 or NaN.
func (s Spread) Relative(m float64) float64 {
	if m == 0 || math.IsNaN(m) {
		return 0
	}
	return (s.Max - s.Min) / m
}

// Interleave returns the order in which contenders run: every round runs
// each contender once, in the listed order, so that slow drifts of the
// machine's load fall on all of them alike. The result has
// rounds×len(names) steps; round numbers start at 1.
func Interleave(names []string, rounds int) []Step {
	steps := make([]Step, 0, rounds*len(names))
	for r := 1; r <= rounds; r++ {
		for _, n := range names {
			steps = append(steps, Step{Round: r, Name: n})
		}
	}
	return steps
}

// Step is one contender in one round.
type Step struct {
	Round int
	Name  string
}

// Ratio is A's figure over B's: the ratio of the medians, and the median of
// the per-round ratios (A and B measured in the same round, which cancels
// drifts of the machine's load between rounds).
type Ratio struct {
	Name           string  `json:"name"`
	A              string  `json:"a"`
	B              string  `json:"b"`
	Metric         string  `json:"metric"`
	Value          float64 `json:"value"`
	PerRoundMedian float64 `json:"per_round_median"`
	Target         string  `json:"target,omitempty"`
	Seed           float64 `json:"seed,omitempty"`
}

// ratioOf computes the Ratio of a's and b's rounds (same length, round i of
// each measured in the same round); ok is false if either is empty or B's
// median is 0.
func ratioOf(a, b []float64) (value, perRound float64, ok bool) {
	if len(a) == 0 || len(b) == 0 || Median(b) == 0 {
		return 0, 0, false
	}
	var per []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			per = append(per, a[i]/b[i])
		}
	}
	return Median(a) / Median(b), Median(per), true
}

func sortFloats(s []float64) { slices.Sort(s) }
