package lab

import (
	"strings"
	"testing"
)

func TestParseMallocs(t *testing.T) {
	text := "# HELP go_memstats_mallocs_total Total number of heap objects allocated.\n# TYPE go_memstats_mallocs_total counter\ngo_memstats_mallocs_total 1.2345e+06\n# TYPE go_goroutines gauge\ngo_goroutines 43\n"
	v, err := parseMallocs(strings.NewReader(text))
	if err != nil || v != 1234500 {
		t.Fatalf("parseMallocs = %v, %v; want 1234500", v, err)
	}
	if _, err := parseMallocs(strings.NewReader("go_goroutines 4\n")); err == nil {
		t.Fatal("metrics without go_memstats_mallocs_total parsed")
	}
	if _, err := parseMallocs(strings.NewReader("{{{\n")); err == nil {
		t.Fatal("garbage parsed")
	}
}
