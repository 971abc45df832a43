package doctor

import (
	"cmp"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// FuncStat is one function's share of a profile value (CPU time, bytes
// allocated, contention delay), aggregated over every sample as
// `go tool pprof -top` does: Flat counts samples whose innermost frame is the
// function, Cum counts samples with the function anywhere on the stack (once
// per sample, however often it recurses).
type FuncStat struct {
	Function string  `json:"function"`
	File     string  `json:"file,omitempty"`
	Flat     int64   `json:"flat"`
	FlatPct  float64 `json:"flat_pct"` // of the profile's total, 0–100
	Cum      int64   `json:"cum"`
	CumPct   float64 `json:"cum_pct"`
}

// sampleIndex returns the index of the sample type named typ, or -1.
func sampleIndex(p *profile.Profile, typ string) int {
	for i, st := range p.SampleType {
		if st.Type == typ {
			return i
		}
	}
	return -1
}

// topFunctions aggregates value index vi of p per function and returns the
// n largest by flat (byCum false) or cumulative value, and the total.
// Samples of the profiling itself (see profilingSample) count in the total
// but are left out of the ranking.
func topFunctions(p *profile.Profile, vi, n int, byCum bool) ([]FuncStat, int64) {
	if p == nil || vi < 0 {
		return nil, 0
	}
	stats := map[string]*FuncStat{}
	var total int64
	seen := map[string]bool{}
	for _, s := range p.Sample {
		if vi >= len(s.Value) {
			continue
		}
		v := s.Value[vi]
		if v == 0 {
			continue
		}
		total += v
		if profilingSample(s) {
			continue
		}
		clear(seen)
		leaf := true
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				if ln.Function == nil {
					continue
				}
				name := ln.Function.Name
				st := stats[name]
				if st == nil {
					st = &FuncStat{Function: name, File: ln.Function.Filename}
					stats[name] = st
				}
				if leaf {
					st.Flat += v
					leaf = false
				}
				if !seen[name] {
					st.Cum += v
					seen[name] = true
				}
			}
		}
	}
	out := make([]FuncStat, 0, len(stats))
	for _, st := range stats {
		if total != 0 {
			st.FlatPct = 100 * float64(st.Flat) / float64(total)
			st.CumPct = 100 * float64(st.Cum) / float64(total)
		}
		if (byCum && st.Cum != 0) || (!byCum && st.Flat != 0) {
			out = append(out, *st)
		}
	}
	slices.SortFunc(out, func(a, b FuncStat) int {
		x, y := a.Flat, b.Flat
		if byCum {
			x, y = a.Cum, b.Cum
		}
		if c := cmp.Compare(y, x); c != 0 {
			return c
		}
		return cmp.Compare(a.Function, b.Function)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, total
}

// topSites attributes value index vi of each sample to its site (see
// sampleSite) and returns the n largest. For contention profiles, whose leaf is always the
// lock's Unlock or the channel operation, this names the user code involved.
// Flat and Cum are equal in the result.
func topSites(p *profile.Profile, vi, n int) []FuncStat {
	if p == nil || vi < 0 {
		return nil
	}
	stats := map[string]*FuncStat{}
	var total int64
	for _, s := range p.Sample {
		if vi >= len(s.Value) || s.Value[vi] == 0 {
			continue
		}
		v := s.Value[vi]
		total += v
		if profilingSample(s) {
			continue
		}
		site := sampleSite(s)
		if site == nil {
			continue
		}
		st := stats[site.Name]
		if st == nil {
			st = &FuncStat{Function: site.Name, File: site.Filename}
			stats[site.Name] = st
		}
		st.Flat += v
		st.Cum += v
	}
	out := make([]FuncStat, 0, len(stats))
	for _, st := range stats {
		st.FlatPct = 100 * float64(st.Flat) / float64(total)
		st.CumPct = st.FlatPct
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b FuncStat) int {
		if c := cmp.Compare(b.Flat, a.Flat); c != 0 {
			return c
		}
		return cmp.Compare(a.Function, b.Function)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// sampleSite picks the frame a sample is charged to: the innermost one
// outside the standard library; for a stack entirely in the standard
// library, the innermost one outside the lock and scheduling machinery
// (runtime, sync, internal/...), so unrelated library locks do not pool
// under one "sync.(*Mutex).Unlock"; else the leaf. Nil for an empty stack.
func sampleSite(s *profile.Sample) *profile.Function {
	var leaf, lib *profile.Function
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			fn := ln.Function
			if fn == nil {
				continue
			}
			if leaf == nil {
				leaf = fn
			}
			if !isStdFunc(fn.Name) {
				return fn
			}
			if lib == nil && !isLockMachinery(fn.Name) {
				lib = fn
			}
		}
	}
	if lib != nil {
		return lib
	}
	return leaf
}

// isLockMachinery reports whether fn implements locking, channels or
// scheduling rather than calling them.
func isLockMachinery(fn string) bool {
	pkg := funcPackage(fn)
	return pkg == "runtime" || pkg == "sync" || pkg == "sync/atomic" || strings.HasPrefix(pkg, "internal/")
}

// profilingSample reports whether s was spent producing profiles: a stack
// through net/http/pprof (this tool's own requests) or runtime/pprof (the
// profile writers they start). Such samples are the observer's cost, not
// the service's, and would otherwise top the lists of an idle target.
func profilingSample(s *profile.Sample) bool {
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function != nil && (strings.HasPrefix(ln.Function.Name, "net/http/pprof.") ||
				strings.HasPrefix(ln.Function.Name, "runtime/pprof.")) {
				return true
			}
		}
	}
	return false
}

// profilingValue sums value index vi over the profiling samples of p.
func profilingValue(p *profile.Profile, vi int) int64 {
	if p == nil || vi < 0 {
		return 0
	}
	var n int64
	for _, s := range p.Sample {
		if vi < len(s.Value) && profilingSample(s) {
			n += s.Value[vi]
		}
	}
	return n
}
