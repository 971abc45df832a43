package doctor

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The heap profile in text form (/debug/pprof/heap?debug=1) ends with the
// target's runtime.MemStats, one "# Name = value" line each. It is the only
// runtime-figure source every net/http/pprof target has (runtime/metrics is
// not served remotely), so this file parses it. Unknown names are kept, bad
// values are skipped: the section is informational and its layout may grow.

// memStats is the parsed MemStats section of a heap?debug=1 page.
type memStats struct {
	Scalars map[string]uint64 // integer fields: HeapAlloc, NumGC, Sys, ...
	Floats  map[string]float64
	PauseNs []uint64 // the 256-entry circular buffer, as printed
	Found   bool     // the "# runtime.MemStats" header was present
}

// parseMemStats extracts the MemStats section from a heap?debug=1 page. It
// never fails; Found reports whether the section was there at all.
func parseMemStats(data []byte) memStats {
	ms := memStats{Scalars: map[string]uint64{}, Floats: map[string]float64{}}
	i := bytes.Index(data, []byte("# runtime.MemStats"))
	if i < 0 {
		return ms
	}
	ms.Found = true
	sc := bufio.NewScanner(bytes.NewReader(data[i:]))
	sc.Buffer(make([]byte, 0, 16<<10), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# ")
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(line, " = ")
		if !ok || name == "" {
			continue
		}
		if strings.HasPrefix(val, "[") {
			if name == "PauseNs" {
				ms.PauseNs = parseUintList(val)
			}
			continue
		}
		// "Stack = 327680 / 327680" (inuse / sys): keep the first figure.
		if a, _, ok := strings.Cut(val, " / "); ok {
			val = a
		}
		if u, err := strconv.ParseUint(val, 10, 64); err == nil {
			ms.Scalars[name] = u
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			ms.Floats[name] = f
		}
	}
	return ms
}

func parseUintList(s string) []uint64 {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	fields := strings.Fields(s)
	out := make([]uint64, 0, len(fields))
	for _, f := range fields {
		u, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil
		}
		out = append(out, u)
	}
	return out
}

// pauses returns the stop-the-world pauses of the GC cycles numbered
// (sinceGC, NumGC], newest last, limited to what the circular buffer still
// holds. sinceGC = 0 asks for every pause still held.
func (ms memStats) pauses(sinceGC uint64) []time.Duration {
	n := ms.Scalars["NumGC"]
	buf := ms.PauseNs
	if n == 0 || len(buf) == 0 || sinceGC >= n {
		return nil
	}
	want := min(n-sinceGC, uint64(len(buf)))
	out := make([]time.Duration, 0, want)
	// Cycle k (1-based) is stored at buf[(k-1) % len(buf)].
	for i := range want {
		k := n - want + 1 + i // no k <= n loop: n may be MaxUint64
		out = append(out, time.Duration(buf[(k-1)%uint64(len(buf))]))
	}
	return out
}

// quantile returns the q-quantile (0 ≤ q ≤ 1) of d by the nearest-rank
// method; d is sorted in place. Zero for an empty slice.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(q*float64(len(d)) + 0.999999999)
	rank = max(1, min(rank, len(d)))
	return d[rank-1]
}
