package doctor

import (
	"bytes"
	"fmt"
	"runtime/pprof"
	"testing"
)

// syntheticDump writes a debug=2 dump of n goroutines spread over groups
// stacks of depth 8, the shape of a busy server's dump.
func syntheticDump(n, groups int) []byte {
	var b bytes.Buffer
	for i := range n {
		g := i % groups
		fmt.Fprintf(&b, "goroutine %d [chan receive, %d minutes]:\n", i+1, i%7)
		for d := range 8 {
			fmt.Fprintf(&b, "example.com/svc/pkg%d.Func%d(0xc000010000, {0x5bbb20, 0x1})\n\t/src/svc/pkg%d/f.go:%d +0x1d\n", g, d, g, 10+d)
		}
		fmt.Fprintf(&b, "created by example.com/svc.spawn%d in goroutine 1\n\t/src/svc/spawn.go:%d +0xe6\n\n", g, g)
	}
	return b.Bytes()
}

func BenchmarkParseDump(b *testing.B) {
	data := syntheticDump(10_000, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if len(parseDump(data)) != 10_000 {
			b.Fatal("short parse")
		}
	}
}

func BenchmarkAnalyzeGoroutines(b *testing.B) {
	const groups = 100
	stacks := make([][]Frame, groups)
	before, after := make([]int64, groups), make([]int64, groups)
	for g := range stacks {
		fns := []string{"runtime.gopark", "runtime.chanrecv", "runtime.chanrecv1"}
		for d := range 8 {
			fns = append(fns, fmt.Sprintf("example.com/svc/pkg%d.Func%d", g, d))
		}
		stacks[g] = stack(fns...)
		before[g], after[g] = 50, 100
	}
	dump := parseDump(syntheticDump(10_000, groups))
	b0 := snapshot{prof: goroutineProfile(stacks, before), dump: dump[:5000]}
	a0 := snapshot{prof: goroutineProfile(stacks, after), dump: dump}
	b.ReportAllocs()
	for b.Loop() {
		analyzeGoroutines(b0, a0, 1)
	}
}

func BenchmarkParseMemStats(b *testing.B) {
	var buf bytes.Buffer
	pprof.Lookup("heap").WriteTo(&buf, 1)
	data := buf.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if !parseMemStats(data).Found {
			b.Fatal("no MemStats")
		}
	}
}

func BenchmarkTopFunctions(b *testing.B) {
	samples := map[string]int64{}
	for i := range 2000 {
		samples[fmt.Sprintf("leaf%d<mid%d<handler%d<serve", i, i%50, i%10)] = int64(i + 1)
	}
	p := cpuProfile(samples)
	b.ReportAllocs()
	for b.Loop() {
		topFunctions(p, 1, 10, false)
	}
}
