package doctor

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseDump(t *testing.T) {
	data, err := os.ReadFile("testdata/dump.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := parseDump(data)
	want := []dumpGoroutine{
		{ID: 6, Reason: "running",
			Stack: []Frame{
				{"runtime/pprof.writeGoroutineStacks", "/usr/local/go/src/runtime/pprof/pprof.go", 819},
				{"net/http/pprof.handler.ServeHTTP", "/usr/local/go/src/net/http/pprof/pprof.go", 272},
			},
			CreatedBy: Frame{"net/http.(*Server).Serve", "/usr/local/go/src/net/http/server.go", 3464}, CreatorGID: 5},
		{ID: 7, Reason: "chan receive", WaitMin: 12,
			Stack: []Frame{
				{"example.com/svc.worker", "/src/svc/worker.go", 19},
				{"example.com/svc.startWorkers.func1", "/src/svc/worker.go", 40},
			},
			CreatedBy: Frame{"example.com/svc.startWorkers", "/src/svc/worker.go", 39}, CreatorGID: 1},
		{ID: 8, Reason: "sync.Mutex.Lock",
			Stack: []Frame{
				{"internal/sync.runtime_SemacquireMutex", "/usr/local/go/src/runtime/sema.go", 95},
				{"sync.(*Mutex).Lock", "/usr/local/go/src/sync/mutex.go", 46},
				{"example.com/svc.(*Pool).Get", "/src/svc/pool.go", 77},
			},
			CreatedBy: Frame{"example.com/svc.serve", "/src/svc/serve.go", 10}},
		{ID: 9, Reason: "select (no cases)",
			Stack: []Frame{{"main.main", "/src/main.go", 3}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseDump mismatch\n got %+v\nwant %+v", got, want)
	}
}

func TestParseDumpHeader(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		ok     bool
		id     int64
		reason string
		min    int
	}{
		{"plain", "goroutine 1 [running]:", true, 1, "running", 0},
		{"with minutes", "goroutine 22 [IO wait, 3 minutes]:", true, 22, "IO wait", 3},
		{"extra fields before the bracket", "goroutine 3 gp=0x1 m=nil [select]:", true, 3, "select", 0},
		{"reason with parentheses", "goroutine 4 [chan send (nil chan), 1 minutes]:", true, 4, "chan send (nil chan)", 1},
		{"no bracket", "goroutine 5 running", false, 0, "", 0},
		{"no id", "goroutine [running]:", false, 0, "", 0},
		{"negative id", "goroutine -3 [running]:", false, 0, "", 0},
		{"bad minutes ignored", "goroutine 6 [sleep, x minutes]:", true, 6, "sleep", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, ok := parseDumpHeader(tt.line)
			if ok != tt.ok || g.ID != tt.id || g.Reason != tt.reason || g.WaitMin != tt.min {
				t.Errorf("parseDumpHeader(%q) = %+v, %v", tt.line, g, ok)
			}
		})
	}
}

func TestTrimArgs(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain args", "main.f(0x1, 0x2)", "main.f"},
		{"method with pointer receiver", "sync.(*Mutex).Lock(...)", "sync.(*Mutex).Lock"},
		{"struct args", "a/b.F({0x5bbb20, 0x1}, 0x2?)", "a/b.F"},
		{"no args", "main.main()", "main.main"},
		{"not a call", "something else", "something else"},
		{"unbalanced", "x)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(trimArgs([]byte(tt.in))); got != tt.want {
				t.Errorf("trimArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseDump checks that any input parses without panicking and that
// every record has a non-negative ID and frames with names.
func FuzzParseDump(f *testing.F) {
	if data, err := os.ReadFile("testdata/dump.txt"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("goroutine 1 [running]:\nmain.main()\n\t/x.go:1 +0x1\n"))
	f.Add([]byte("goroutine 1 [\ncreated by \n\t:\n...\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, g := range parseDump(data) {
			if g.ID < 0 || g.WaitMin < 0 || g.CreatorGID < 0 {
				t.Fatalf("negative field in %+v", g)
			}
			for _, fr := range g.Stack {
				if fr.Function == "" || fr.Line < 0 || strings.Contains(fr.Function, "\n") {
					t.Fatalf("bad frame %+v", fr)
				}
			}
		}
	})
}
