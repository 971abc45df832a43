package report

import (
	"bytes"
	"errors"
	"flag"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// sample builds a deterministic result: two histograms filled from a seeded
// generator, so text and JSON output are stable for golden files.
func sample(t testing.TB, seed uint64, n int, open bool) (*Result, *hdrhistogram.Histogram, *hdrhistogram.Histogram) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	lat, svc := NewHistogram(), NewHistogram()
	// n requests: 3 transport errors (no histogram value) and n-3
	// responses, 4 of them 503s.
	for i := 0; i < n-3; i++ {
		s := time.Duration(50+rng.IntN(400)) * time.Microsecond
		if rng.IntN(100) == 0 {
			s += 20 * time.Millisecond
		}
		l := s
		if open {
			l += time.Duration(rng.IntN(300)) * time.Microsecond
		}
		Record(svc, s)
		Record(lat, l)
	}
	r := &Result{
		Schema: Schema, Target: "http://127.0.0.1:8080/time", Method: "GET", Protocol: "http/1.1",
		Mode: "closed", Connections: 64, Generators: 1,
		StartedAt: time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC), DurationS: 10, WarmupS: 1,
		Requests: uint64(n), Successes: uint64(n) - 7, Errors: 7,
		ErrorClasses: map[string]uint64{"timeout": 2, "reset": 1},
		Status:       map[string]uint64{"200": uint64(n) - 7, "503": 4, "404": 0 + 0},
		RPS:          float64(n) / 10, BytesIn: uint64(n) * 140, BytesOut: uint64(n) * 60,
		Generator: &CPU{Seconds: 1.5, PerRequestUs: PerRequestUs(1.5, uint64(n))},
		Server:    &Server{PID: 4242, CPU: CPU{Seconds: 2.25, PerRequestUs: PerRequestUs(2.25, uint64(n))}, PeakRSSBytes: 12 << 20},
	}
	delete(r.Status, "404")
	if open {
		r.Mode, r.RateTarget, r.LateSends = "open", 1000, 3
	}
	if err := r.SetHistograms(lat, svc); err != nil {
		t.Fatal(err)
	}
	return r, lat, svc
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
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file; got:\n%s", name, got)
	}
}

func TestGoldenOutput(t *testing.T) {
	tests := []struct {
		name string
		open bool
		json bool
	}{
		{"closed loop text shows one latency row", false, false},
		{"open loop text shows corrected and service rows and late sends", true, false},
		{"closed loop json follows the schema", false, true},
		{"open loop json follows the schema", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := sample(t, 7, 5000, tt.open)
			var buf bytes.Buffer
			file := "closed"
			if tt.open {
				file = "open"
			}
			var err error
			if tt.json {
				err = WriteJSON(&buf, r)
				file += ".json"
			} else {
				err = WriteText(&buf, r)
				file += ".txt"
			}
			if err != nil {
				t.Fatal(err)
			}
			golden(t, file, buf.Bytes())
		})
	}
}

// TestTextWithoutResponses: when every request failed there is no latency;
// a table of zeros ("p99 0µs") would read as a very fast server.
func TestTextWithoutResponses(t *testing.T) {
	t.Parallel()
	r := &Result{Schema: Schema, Target: "http://127.0.0.1:1/x", Method: "GET", Protocol: "http/1.1",
		Mode: "closed", Connections: 2, Generators: 1, DurationS: 0.2, Requests: 4, Errors: 4,
		ErrorClasses: map[string]uint64{"timeout": 4}, Generator: &CPU{Seconds: 0.01, PerRequestUs: 2500}}
	if err := r.SetHistograms(NewHistogram(), NewHistogram()); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "0µs") || strings.Contains(out, "p99") {
		t.Errorf("latency table printed without responses:\n%s", out)
	}
	for _, want := range []string{"no request got a response", "timeout=4", "Generator   CPU"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	r, lat, _ := sample(t, 3, 2000, true)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"schema": "hotpath.bench/v1"`, `"requests"`, `"errors"`, `"rps"`,
		`"latency_us"`, `"service_time_us"`, `"p50"`, `"p90"`, `"p99"`, `"p999"`, `"max"`, `"histograms"`} {
		if !strings.Contains(buf.String(), field) {
			t.Errorf("JSON lacks %s", field)
		}
	}
	back, err := ReadJSON("x.json", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	l2, _, err := back.DecodeHistograms()
	if err != nil {
		t.Fatal(err)
	}
	if !lat.Equals(l2) {
		t.Fatal("latency histogram changed through JSON")
	}
}

func TestReadJSONRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"not JSON", "hello", "invalid character"},
		{"other schema", `{"schema":"k6/v1"}`, "not a hotpath.bench/v1"},
		{"missing schema", `{}`, "not a hotpath.bench/v1"},
		{"corrupt histogram", `{"schema":"hotpath.bench/v1","histograms":{"latency":"!!!"}}`, "decode latency histogram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadJSON("in.json", []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "in.json: ") {
				t.Fatalf("err = %v, want it to name in.json and contain %q", err, tt.want)
			}
		})
	}
}

// TestMergeEqualsOneHistogram is the check (d): merging two result
// files gives the same percentiles as one histogram of both runs.
func TestMergeEqualsOneHistogram(t *testing.T) {
	t.Parallel()
	a, la, sa := sample(t, 1, 30000, true)
	b, lb, sb := sample(t, 2, 10000, true)
	// Give b a different shape so a wrong merge cannot pass by accident.
	for i := 0; i < 500; i++ {
		Record(lb, 300*time.Millisecond)
		Record(sb, 300*time.Millisecond)
	}
	if err := b.SetHistograms(lb, sb); err != nil {
		t.Fatal(err)
	}
	b.Requests += 500 // 500 more responses, all 200 (kept consistent for ReadJSON)
	b.Successes += 500
	b.Status["200"] += 500
	// Round-trip both through JSON, as `hotpath bench merge` does with files.
	read := func(r *Result) *Result {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		back, err := ReadJSON("f", buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return back
	}
	m, err := Merge(read(a), read(b))
	if err != nil {
		t.Fatal(err)
	}
	all, allSvc := NewHistogram(), NewHistogram()
	all.Merge(la)
	all.Merge(lb)
	allSvc.Merge(sa)
	allSvc.Merge(sb)
	if got, want := m.Latency, Summarize(all); got != want {
		t.Errorf("merged latency %+v, want %+v", got, want)
	}
	if got, want := m.ServiceTime, Summarize(allSvc); got != want {
		t.Errorf("merged service time %+v, want %+v", got, want)
	}
	if m.Latency.P999 < 300000 {
		t.Errorf("merged p99.9 %d should reflect b's 300ms tail", m.Latency.P999)
	}
	if m.Requests != a.Requests+b.Requests || m.Generators != 2 || m.RPS != a.RPS+b.RPS {
		t.Errorf("counters not summed: %+v", m)
	}
	if m.Status["200"] != a.Status["200"]+b.Status["200"] || m.ErrorClasses["timeout"] != 4 {
		t.Errorf("maps not summed: %v %v", m.Status, m.ErrorClasses)
	}
	if m.Server == nil || m.Server.PID != 4242 {
		t.Errorf("same server pid should be kept: %+v", m.Server)
	}
}

// TestReadJSONRefusesHistogramsThatDoNotMatch: every response is in both
// histograms, so a result whose histograms were dropped (e.g. by a jq
// filter to shrink the file) or swapped is refused instead of being merged
// into percentiles of only some of the requests it counts.
func TestReadJSONRefusesHistogramsThatDoNotMatch(t *testing.T) {
	t.Parallel()
	r, _, _ := sample(t, 5, 1000, true)
	other, _, _ := sample(t, 6, 2000, true)
	tests := []struct {
		name   string
		modify func(*Result)
		want   string
	}{
		{"unmodified result is read", func(*Result) {}, ""},
		{"histograms dropped", func(r *Result) { r.Histograms = Histograms{} }, "histograms.latency holds 0 values but status counts 997"},
		{"service time dropped", func(r *Result) { r.Histograms.ServiceTime = "" }, "histograms.service_time holds 0 values"},
		{"histograms of another result", func(r *Result) { r.Histograms = other.Histograms }, "holds 1997 values but status counts 997"},
		{"status counts edited", func(r *Result) { r.Status["200"]++ }, "status counts 998"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := *r
			c.Status = maps.Clone(r.Status)
			tt.modify(&c)
			var buf bytes.Buffer
			if err := WriteJSON(&buf, &c); err != nil {
				t.Fatal(err)
			}
			_, err := ReadJSON("in.json", buf.Bytes())
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrSchema containing %q", err, tt.want)
			}
		})
	}
}

func TestMergeRejectsBadInput(t *testing.T) {
	t.Parallel()
	if _, err := Merge(); err == nil {
		t.Error("merge of nothing accepted")
	}
	if _, err := Merge(&Result{Schema: "x"}); err == nil {
		t.Error("merge of a foreign schema accepted")
	}
}

func TestRecordClamps(t *testing.T) {
	t.Parallel()
	h := NewHistogram()
	Record(h, 0)
	Record(h, time.Hour)
	if h.Min() != LowestUs || !h.ValuesAreEquivalent(h.Max(), HighestUs) || h.TotalCount() != 2 {
		t.Fatalf("min %d max %d count %d", h.Min(), h.Max(), h.TotalCount())
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := NewHistogram()
	if n := testing.AllocsPerRun(1000, func() { Record(h, 1234*time.Microsecond) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}

func FuzzReadJSON(f *testing.F) {
	r, _, _ := sample(f, 5, 100, true)
	var buf bytes.Buffer
	_ = WriteJSON(&buf, r)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"schema":"hotpath.bench/v1"}`))
	f.Add([]byte(`{"schema":"hotpath.bench/v1","histograms":{"latency":"HISTFAAAACB4nJNpmSzMwMDAyQABTFCaEUzOmQ"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ReadJSON("fuzz", data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteText(&out, r); err != nil {
			t.Fatal(err)
		}
		if _, err := Merge(r, r); err != nil && !strings.Contains(err.Error(), "out of range") {
			t.Fatalf("merge of a valid result with itself: %v", err)
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Record(h, time.Duration(i%100000)*time.Microsecond)
	}
}
