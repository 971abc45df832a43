package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleReport is a fixed report covering every section, including a
// suspect, a contention profile that is on and one that is off, and a
// warning.
func sampleReport() *Report {
	worker := Frame{Function: "example.com/svc.worker", File: "/src/svc/worker.go", Line: 19}
	r := &Report{
		Target:     "http://127.0.0.1:6060/debug/pprof/",
		CapturedAt: time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC),
		Goroutines: GoroutineReport{
			IntervalSeconds: 10, Before: 120, After: 480, Compared: true, Dumps: true,
			Suspects: []GoroutineGroup{{
				Stack:  []Frame{{Function: "runtime.gopark"}, {Function: "runtime.chanrecv"}, worker},
				Before: 100, After: 460, Growth: 360, FamilyGrowth: 360, Persisted: 100,
				State: "chan receive", StateSource: "dump", Kind: KindChannel, Blocking: true, WaitMinutes: 3,
				CreatedBy: &Frame{Function: "example.com/svc.spawn", File: "/src/svc/spawn.go", Line: 7},
				UserFrame: &worker, Suspect: true,
			}},
			Groups: []GoroutineGroup{
				{Stack: []Frame{{Function: "runtime.gopark"}, {Function: "internal/poll.runtime_pollWait"}, {Function: "net/http.(*conn).serve"}},
					Before: 12, After: 11, Growth: -1, FamilyGrowth: -1, Persisted: 9, State: "IO wait", StateSource: "dump", Kind: KindIO, Blocking: true},
				{Stack: []Frame{{Function: "example.com/svc.hash"}}, Before: 0, After: 2, Growth: 2, FamilyGrowth: 2, Persisted: 0,
					State: "running", StateSource: "dump", Kind: KindRunning, UserFrame: &Frame{Function: "example.com/svc.hash"}},
			},
		},
		CPU: &CPUReport{Seconds: 5, CPUNs: 4_200_000_000, Cores: 0.84, ProfilingNs: 40_000_000,
			Flat:     []FuncStat{{Function: "example.com/svc.hash", File: "/src/svc/hash.go", Flat: 3_000_000_000, FlatPct: 71.4, Cum: 3_000_000_000, CumPct: 71.4}},
			Cum:      []FuncStat{{Function: "net/http.(*conn).serve", Flat: 0, FlatPct: 0, Cum: 4_000_000_000, CumPct: 95.2}},
			UserFlat: []FuncStat{{Function: "example.com/svc.hash", File: "/src/svc/hash.go", Flat: 3_000_000_000, FlatPct: 71.4, Cum: 3_000_000_000, CumPct: 71.4}},
		},
		Alloc: &AllocReport{AllocSource: "during the 5s window", AllocBytes: 512 << 20, ProfilingBytes: 3 << 20,
			AllocSpace: []FuncStat{{Function: "example.com/svc.render", Flat: 400 << 20, FlatPct: 78.1, Cum: 400 << 20, CumPct: 78.1}},
			InuseBytes: 8 << 20,
			InuseSpace: []FuncStat{{Function: "example.com/svc.cache", Flat: 6 << 20, FlatPct: 75, Cum: 6 << 20, CumPct: 75}},
		},
		Mutex: &ContentionReport{Status: ContentionOK, Contentions: 1200, DelayNs: 350_000_000,
			Top:   []FuncStat{{Function: "sync.(*Mutex).Unlock", Flat: 350_000_000, FlatPct: 100, Cum: 350_000_000, CumPct: 100}},
			Sites: []FuncStat{{Function: "example.com/svc.(*Cache).Put", Flat: 350_000_000, FlatPct: 100, Cum: 350_000_000, CumPct: 100}}},
		Block: &ContentionReport{Status: ContentionNoSamples, Top: []FuncStat{}, Sites: []FuncStat{},
			Note: "no samples: the target has not enabled it (runtime.SetBlockProfileRate) or nothing waited during the window"},
		Runtime: &RuntimeReport{Goroutines: 480, NumGC: 900, GCsInWindow: 40, GCPauses: 40, GCPauseWindow: true,
			GCPauseP50Ns: 120_000, GCPauseP99Ns: 1_900_000, GCPauseMaxNs: 2_100_000, GCCPUFraction: 0.031,
			HeapAlloc: 30 << 20, HeapInuse: 36 << 20, Sys: 80 << 20, RSSBytes: 95 << 20, ProcessCores: 0.9,
			Sources: map[string]string{"goroutines": "/debug/pprof/goroutine (second snapshot)", "num_gc": "/debug/pprof/heap?debug=1 (runtime.MemStats)",
				"rss_bytes":     "http://127.0.0.1:6060/metrics (process_resident_memory_bytes)",
				"process_cores": "http://127.0.0.1:6060/metrics (process_cpu_seconds_total, over the window)"}},
		Profiles: []SavedProfile{
			{Name: "cpu", Path: "out/cpu.pb.gz", Open: "go tool pprof -http=: out/cpu.pb.gz"},
			{Name: "goroutine-2-dump", Path: "out/goroutine-2.txt"},
		},
		Warnings: []string{"block profile: GET http://127.0.0.1:6060/debug/pprof/block?seconds=5: 500 Internal Server Error: boom"},
	}
	r.Verdict = buildVerdict(r)
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt.golden", buf.Bytes())
}

func TestWriteJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json.golden", buf.Bytes())
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("JSON report does not read back: %v", err)
	}
	if back.Goroutines.Suspects[0].UserFrame.Function != "example.com/svc.worker" {
		t.Errorf("round trip lost the suspect: %+v", back.Goroutines.Suspects)
	}
}

// TestWriteTextStructure checks the section order and the verdict-first
// promise on an empty report, the shape a failed capture produces.
func TestWriteTextStructure(t *testing.T) {
	tests := []struct {
		name string
		r    *Report
	}{
		{"full report", sampleReport()},
		{"nothing captured but the snapshots", &Report{Target: "http://x/debug/pprof/", Verdict: "No goroutine leak suspect."}},
	}
	sections := []string{"VERDICT", "GOROUTINE LEAK SUSPECTS", "GOROUTINE GROUPS", "CPU", "ALLOCATIONS", "CONTENTION", "RUNTIME", "PROFILES"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteText(&buf, tt.r); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			last := -1
			for _, s := range sections {
				i := strings.Index(out, "\n"+s)
				if i <= last {
					t.Fatalf("section %s missing or out of order in\n%s", s, out)
				}
				last = i
			}
			if v := strings.Index(out, tt.r.Verdict[:20]); v < 0 || v > strings.Index(out, "GOROUTINE LEAK") {
				t.Errorf("verdict not at the top")
			}
		})
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n--; w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteTextReportsWriteErrors(t *testing.T) {
	for _, n := range []int{0, 3, 10} {
		if err := WriteText(&failWriter{n: n}, sampleReport()); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("after %d writes: err = %v, want disk full", n, err)
		}
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		name string
		r    *Report
		want []string // substrings, in order
	}{
		{"full report names the suspect, CPU, allocations, GC and contention", sampleReport(),
			[]string{"1 goroutine leak suspect(s). Top: svc.worker grew by 360 (100 → 460) in 10s, blocked in chan receive, created by svc.spawn",
				"hottest function svc.hash", "top site svc.render", "P99 1.90ms", "Mutex contention", "1 part(s) could not be captured"}},
		{"clean", &Report{Goroutines: GoroutineReport{Compared: true, IntervalSeconds: 10, Before: 5, After: 6}},
			[]string{"No goroutine leak suspect", "(5 → 6 goroutines)"}},
		{"second snapshot failed", &Report{Goroutines: GoroutineReport{Before: 5}, Warnings: []string{"x"}},
			[]string{"Goroutines not compared", "see warnings"}},
		{"interrupted", &Report{Interrupted: true, Goroutines: GoroutineReport{Compared: true}},
			[]string{"No goroutine leak suspect", "interrupted"}},
		{"idle CPU", &Report{Goroutines: GoroutineReport{Compared: true}, CPU: &CPUReport{Seconds: 5}},
			[]string{"CPU: no samples in 5s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := buildVerdict(tt.r)
			rest := v
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("verdict %q lacks %q (in order)", v, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
