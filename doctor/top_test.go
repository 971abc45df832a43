package doctor

import (
	"reflect"
	"testing"

	"github.com/google/pprof/profile"
)

// cpuProfile builds a profile whose samples carry (count, nanoseconds).
func cpuProfile(samples map[string]int64) *profile.Profile {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}
	funcs := map[string]*profile.Function{}
	fn := func(name string) *profile.Function {
		if f := funcs[name]; f != nil {
			return f
		}
		f := &profile.Function{ID: uint64(len(funcs) + 1), Name: name, Filename: name + ".go"}
		funcs[name] = f
		p.Function = append(p.Function, f)
		return f
	}
	// Keys are "leaf<caller<caller"; '+' joins inlined frames of one location.
	for key, v := range samples {
		s := &profile.Sample{Value: []int64{v / 10, v}}
		for _, locKey := range split(key, '<') {
			loc := &profile.Location{ID: uint64(len(p.Location) + 1)}
			for _, name := range split(locKey, '+') {
				loc.Line = append(loc.Line, profile.Line{Function: fn(name)})
			}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func split(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestTopFunctions(t *testing.T) {
	p := cpuProfile(map[string]int64{
		"hash<handle<serve":      600,
		"alloc<handle<serve":     300,
		"rec<rec<rec<serve":      100, // recursion counts once in cum
		"inlined+outer<handle":   0,   // zero samples are ignored
		"write+flush<serve":      50,  // inlined: innermost line is the leaf
		"hash<handle<otherserve": 0,
		"compress/flate.NewWriter<runtime/pprof.(*Profile).WriteTo<net/http/pprof.handler.ServeHTTP": 70,
	})
	flat, total := topFunctions(p, 1, 3, false)
	// The profiling sample counts in the total, not in the ranking.
	if total != 1120 || profilingValue(p, 1) != 70 {
		t.Fatalf("total = %d, profiling %d; want 1120 and 70", total, profilingValue(p, 1))
	}
	wantFlat := []FuncStat{
		{Function: "hash", File: "hash.go", Flat: 600, FlatPct: 600.0 / 1120 * 100, Cum: 600, CumPct: 600.0 / 1120 * 100},
		{Function: "alloc", File: "alloc.go", Flat: 300, FlatPct: 300.0 / 1120 * 100, Cum: 300, CumPct: 300.0 / 1120 * 100},
		{Function: "rec", File: "rec.go", Flat: 100, FlatPct: 100.0 / 1120 * 100, Cum: 100, CumPct: 100.0 / 1120 * 100},
	}
	if !reflect.DeepEqual(flat, wantFlat) {
		t.Errorf("flat top\n got %+v\nwant %+v", flat, wantFlat)
	}
	cum, _ := topFunctions(p, 1, 2, true)
	if len(cum) != 2 || cum[0].Function != "serve" || cum[0].Cum != 1050 || cum[1].Function != "handle" || cum[1].Cum != 900 {
		t.Errorf("cum top = %+v, want serve 1050, handle 900", cum)
	}
	for _, f := range all(t, p) {
		if f.Function == "compress/flate.NewWriter" {
			t.Errorf("profiling sample ranked: %+v", f)
		}
	}
	all, _ := topFunctions(p, 1, 100, false)
	for _, f := range all {
		if f.Function == "flush" || f.Function == "inlined" {
			t.Errorf("%s has flat samples, but it is not the innermost frame", f.Function)
		}
	}
	if got, _ := topFunctions(nil, 0, 3, false); got != nil {
		t.Errorf("nil profile gave %v", got)
	}
	if got, _ := topFunctions(p, -1, 3, false); got != nil {
		t.Errorf("missing sample type gave %v", got)
	}
}

func all(t *testing.T, p *profile.Profile) []FuncStat {
	t.Helper()
	fs, _ := topFunctions(p, 1, 1000, true)
	return fs
}

func TestTopSites(t *testing.T) {
	p := cpuProfile(map[string]int64{
		"sync.(*Mutex).Unlock<example.com/svc.(*Cache).Put<net/http.(*conn).serve": 700,
		"sync.(*Mutex).Unlock<example.com/svc.(*Cache).Get<net/http.(*conn).serve": 200,
		"sync.(*Mutex).Unlock+example.com/svc.inlined<net/http.(*conn).serve":      50,
		"sync.(*Mutex).Unlock<sync.(*Cond).Wait<net/http.(*conn).serve":            50,
		"runtime.unlock<runtime.schedule":                                          5,
	})
	got := topSites(p, 1, 10)
	want := []string{"example.com/svc.(*Cache).Put", "example.com/svc.(*Cache).Get", "example.com/svc.inlined",
		"net/http.(*conn).serve", "runtime.unlock"}
	if len(got) != len(want) {
		t.Fatalf("sites = %+v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].Function != w {
			t.Errorf("site %d = %s, want %s", i, got[i].Function, w)
		}
	}
	if got[0].Flat != 700 || got[0].FlatPct != 700.0/1005*100 {
		t.Errorf("top site = %+v, want 700 ns of 1005", got[0])
	}
}
