package lab_test

import (
	"fmt"

	"github.com/hotpath-dev/hotpath/lab"
)

// The order contenders run in: every round runs each once, in the same
// order, so a drift of the machine's load falls on all of them alike; each
// figure is then the median of its rounds, with their spread beside it.
func ExampleInterleave() {
	for _, s := range lab.Interleave([]string{"hotpath-nethttp", "nginx"}, 2) {
		fmt.Println(s.Round, s.Name)
	}
	cpu := []float64{25.4, 27.3, 23.5}
	sp := lab.SpreadOf(cpu)
	fmt.Printf("median %.1f µs (%.1f–%.1f)\n", lab.Median(cpu), sp.Min, sp.Max)
	// Output:
	// 1 hotpath-nethttp
	// 1 nginx
	// 2 hotpath-nethttp
	// 2 nginx
	// median 25.4 µs (23.5–27.3)
}
