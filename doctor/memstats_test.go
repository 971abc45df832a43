package doctor

import (
	"bytes"
	"reflect"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

func TestParseMemStatsFromRuntime(t *testing.T) {
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	ms := parseMemStats(buf.Bytes())
	if !ms.Found {
		t.Fatal("MemStats section not found in this runtime's heap?debug=1")
	}
	for _, k := range []string{"HeapAlloc", "HeapInuse", "Sys", "NumGC"} {
		if _, ok := ms.Scalars[k]; !ok {
			t.Errorf("field %s missing; have %v", k, ms.Scalars)
		}
	}
	if ms.Scalars["NumGC"] == 0 || len(ms.PauseNs) != 256 {
		t.Errorf("NumGC = %d, %d PauseNs entries; want > 0 and 256", ms.Scalars["NumGC"], len(ms.PauseNs))
	}
}

func TestParseMemStats(t *testing.T) {
	page := "heap profile: 1: 2 [3: 4] @ heap/1048576\n" +
		"# runtime.MemStats\n# HeapAlloc = 100\n# Stack = 32 / 64\n# GCCPUFraction = 0.25\n" +
		"# PauseNs = [5 6 0]\n# DebugGC = false\n# Bad = x\nnot a field\n# NumGC = 2\n"
	ms := parseMemStats([]byte(page))
	wantScalars := map[string]uint64{"HeapAlloc": 100, "Stack": 32, "NumGC": 2}
	if !ms.Found || !reflect.DeepEqual(ms.Scalars, wantScalars) {
		t.Errorf("scalars = %v, want %v", ms.Scalars, wantScalars)
	}
	if ms.Floats["GCCPUFraction"] != 0.25 || !reflect.DeepEqual(ms.PauseNs, []uint64{5, 6, 0}) {
		t.Errorf("floats %v, pauses %v", ms.Floats, ms.PauseNs)
	}
	if parseMemStats([]byte("heap profile: 0: 0 [0: 0]\n")).Found {
		t.Error("Found without the section header")
	}
}

func TestPauses(t *testing.T) {
	buf := func(vals map[int]uint64) []uint64 {
		b := make([]uint64, 256)
		for i, v := range vals {
			b[i] = v
		}
		return b
	}
	d := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n)
		}
		return out
	}
	tests := []struct {
		name  string
		numGC uint64
		pause []uint64
		since uint64
		want  []time.Duration
	}{
		{"no GC yet", 0, buf(nil), 0, nil},
		{"all of three", 3, buf(map[int]uint64{0: 10, 1: 20, 2: 30}), 0, d(10, 20, 30)},
		{"only the window", 3, buf(map[int]uint64{0: 10, 1: 20, 2: 30}), 1, d(20, 30)},
		{"nothing new", 3, buf(map[int]uint64{0: 10, 1: 20, 2: 30}), 3, nil},
		{"wrapped buffer, newest last", 258, buf(map[int]uint64{0: 257, 1: 258, 255: 256}), 255, d(256, 257, 258)},
		{"window larger than the buffer is capped", 1000, buf(nil), 1, d(make([]int, 256)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := memStats{Scalars: map[string]uint64{"NumGC": tt.numGC}, PauseNs: tt.pause}
			if got := ms.pauses(tt.since); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pauses(%d) = %v, want %v", tt.since, got, tt.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100 - i) // reverse order: quantile sorts
	}
	tests := []struct {
		name string
		d    []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"single", []time.Duration{7}, 0.99, 7},
		{"median of 100", hundred, 0.5, 50},
		{"p99 of 100", hundred, 0.99, 99},
		{"max", hundred, 1, 100},
		{"p0 is the minimum", hundred, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.d, tt.q); got != tt.want {
				t.Errorf("quantile(q=%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

// FuzzParseMemStats checks that any page parses without panicking and that
// pauses() stays inside the buffer it was given.
func FuzzParseMemStats(f *testing.F) {
	var buf bytes.Buffer
	pprof.Lookup("heap").WriteTo(&buf, 1)
	f.Add(buf.Bytes())
	f.Add([]byte("# runtime.MemStats\n# NumGC = 300\n# PauseNs = [1 2 3]\n"))
	f.Add([]byte("# runtime.MemStats\n# NumGC = 18446744073709551615\n# PauseNs = [1]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms := parseMemStats(data)
		for _, since := range []uint64{0, 1, ms.Scalars["NumGC"] / 2} {
			p := ms.pauses(since)
			if len(p) > len(ms.PauseNs) {
				t.Fatalf("%d pauses from a %d-entry buffer", len(p), len(ms.PauseNs))
			}
			_ = quantile(p, 0.99)
		}
		if !ms.Found && (len(ms.Scalars) > 0 || ms.PauseNs != nil) {
			t.Fatalf("fields without the section header: %v", ms.Scalars)
		}
	})
}
