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

// An A/B of this build against another on three rows: Servers picks the
// rows, Base names the other binary (each hotpath row gets a base row).
// Validate checks the combination before anything runs.
func ExampleConfig_Validate() {
	c := lab.Config{Binary: "/usr/local/bin/hotpath", Only: []string{lab.Servers},
		Servers: []string{"hotpath-nethttp", "nethttp-hardened"}, Base: "/tmp/no-such-hotpath-base"}
	fmt.Println(c.Validate())
	c.Only = []string{lab.GC}
	fmt.Println(c.Validate())
	// Output:
	// invalid lab run: --base /tmp/no-such-hotpath-base: no such file or directory
	// invalid lab run: --servers: --only gc leaves out the servers scenario
}
