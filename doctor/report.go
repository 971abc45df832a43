package doctor

import (
	"fmt"
	"strings"
	"time"
)

// Report is the outcome of one Run. Its JSON form is the `--output json`
// schema documented in docs/doctor.md; fields are only ever added. Nil
// sections were not captured (see Warnings for why).
type Report struct {
	Target      string    `json:"target"`      // pprof base URL, ends in /debug/pprof/
	CapturedAt  time.Time `json:"captured_at"` // time of the first snapshot, UTC
	Verdict     string    `json:"verdict"`     // one paragraph, plain text
	Interrupted bool      `json:"interrupted,omitempty"`

	Goroutines GoroutineReport   `json:"goroutines"`
	CPU        *CPUReport        `json:"cpu"`
	Alloc      *AllocReport      `json:"alloc"`
	Mutex      *ContentionReport `json:"mutex"`
	Block      *ContentionReport `json:"block"`
	Runtime    *RuntimeReport    `json:"runtime"`

	Profiles []SavedProfile `json:"profiles"` // raw files written, in capture order
	Warnings []string       `json:"warnings"` // parts that could not be captured
}

// GoroutineReport compares two goroutine snapshots.
type GoroutineReport struct {
	IntervalSeconds float64 `json:"interval_seconds"` // between the snapshots
	Before          int64   `json:"before"`           // total goroutines, first snapshot
	After           int64   `json:"after"`            // total goroutines, second snapshot
	// Suspects are the leak suspects, largest growth first.
	Suspects []GoroutineGroup `json:"suspects"`
	// Groups are the largest other groups (at most Config.Top).
	Groups []GoroutineGroup `json:"groups"`
	// Compared is false when the second snapshot failed: then After is 0
	// and there are no groups (see Report.Warnings).
	Compared bool `json:"compared"`
	// Dumps says whether debug=2 dumps were available at both snapshots;
	// without them states are inferred from function names and
	// GoroutineGroup.Persisted is -1.
	Dumps bool `json:"dumps"`
}

// CPUReport summarises the CPU profile.
type CPUReport struct {
	Seconds float64 `json:"seconds"` // profile duration
	CPUNs   int64   `json:"cpu_ns"`  // CPU time sampled
	// Cores is CPUNs over the duration: 1.0 = one core busy throughout.
	Cores float64 `json:"cores"`
	// ProfilingNs is the part of CPUNs spent producing profiles for this
	// run (net/http/pprof, runtime/pprof); it is left out of Flat and Cum.
	ProfilingNs int64      `json:"profiling_ns"`
	Flat        []FuncStat `json:"flat"` // values in nanoseconds, % of CPUNs
	Cum         []FuncStat `json:"cum"`
	// UserFlat ranks by flat time only functions outside the runtime and
	// standard library: on a busy service the runtime's scheduler, GC and
	// syscalls often fill Flat.
	UserFlat []FuncStat `json:"user_flat"`
}

// AllocReport summarises the allocation and heap profiles. Values in bytes.
type AllocReport struct {
	// AllocSource says which window AllocSpace covers: the capture window
	// (delta profile) or, if the target refused a delta, the whole process
	// life.
	AllocSource string     `json:"alloc_source"`
	AllocBytes  int64      `json:"alloc_bytes"`
	AllocSpace  []FuncStat `json:"alloc_space"` // by bytes allocated
	// ProfilingBytes is the part of AllocBytes allocated producing profiles
	// (net/http/pprof, runtime/pprof); it is left out of AllocSpace.
	ProfilingBytes int64      `json:"profiling_bytes"`
	InuseBytes     int64      `json:"inuse_bytes"` // live heap sampled at the last GC
	InuseSpace     []FuncStat `json:"inuse_space"`
}

// Contention statuses, see ContentionReport.Status.
const (
	ContentionOK        = "ok"         // samples were recorded
	ContentionDisabled  = "disabled"   // the target reported a zero rate
	ContentionNoSamples = "no_samples" // empty: not enabled, or nothing blocked
)

// ContentionReport summarises a mutex or block profile over the window.
type ContentionReport struct {
	Status      string     `json:"status"`
	Note        string     `json:"note,omitempty"`
	Contentions int64      `json:"contentions"`
	DelayNs     int64      `json:"delay_ns"`
	Top         []FuncStat `json:"top"` // by delay (flat), nanoseconds
	// Sites attributes the delay to the innermost frame outside the
	// standard library: the user code that holds or waits.
	Sites []FuncStat `json:"sites"`
}

// RuntimeReport holds runtime figures; Sources names where each came from.
type RuntimeReport struct {
	Goroutines int64  `json:"goroutines"`
	NumGC      uint64 `json:"num_gc"`
	// GCsInWindow is the number of GC cycles between the two snapshots.
	GCsInWindow uint64 `json:"gcs_in_window"`
	// GCPauses is how many stop-the-world pauses the quantiles cover: those
	// of the window when any GC ran in it, else the most recent (≤ 256).
	GCPauses      int     `json:"gc_pauses"`
	GCPauseWindow bool    `json:"gc_pause_window"`
	GCPauseP50Ns  int64   `json:"gc_pause_p50_ns"`
	GCPauseP99Ns  int64   `json:"gc_pause_p99_ns"`
	GCPauseMaxNs  int64   `json:"gc_pause_max_ns"`
	GCCPUFraction float64 `json:"gc_cpu_fraction"` // 0–1, since process start
	HeapAlloc     uint64  `json:"heap_alloc_bytes"`
	HeapInuse     uint64  `json:"heap_inuse_bytes"`
	Sys           uint64  `json:"sys_bytes"`
	// RSSBytes and ProcessCores come from a Prometheus /metrics page beside
	// pprof, when the target has one (see Sources); zero otherwise.
	// ProcessCores is the whole process's CPU over the window, profiled or
	// not: 1.0 = one core busy.
	RSSBytes     uint64  `json:"rss_bytes"`
	ProcessCores float64 `json:"process_cores"`
	// Sources maps each figure's JSON name to the endpoint it came from.
	Sources map[string]string `json:"sources"`
}

// SavedProfile is one raw file written to Config.OutDir.
type SavedProfile struct {
	Name string `json:"name"` // e.g. "cpu", "goroutine-2"
	Path string `json:"path"`
	// Open is the command that opens the file, empty for text dumps.
	Open string `json:"open,omitempty"`
}

// buildVerdict writes the one-paragraph summary at the top of the report.
func buildVerdict(r *Report) string {
	var s []string
	g := r.Goroutines
	switch n := len(g.Suspects); {
	case !g.Compared:
		s = append(s, "Goroutines not compared: the second snapshot failed.")
	case n == 0:
		s = append(s, fmt.Sprintf("No goroutine leak suspect: no blocked group with a user-code frame grew between the two snapshots %s apart (%d → %d goroutines).",
			secs(g.IntervalSeconds), g.Before, g.After))
	default:
		top := g.Suspects[0]
		where := "an unknown site"
		if top.UserFrame != nil {
			where = shortFunc(top.UserFrame.Function)
		}
		line := fmt.Sprintf("%d goroutine leak suspect(s). Top: %s grew by %d (%d → %d) in %s, blocked in %s",
			n, where, top.Growth, top.Before, top.After, secs(g.IntervalSeconds), top.State)
		if top.CreatedBy != nil {
			line += ", created by " + shortFunc(top.CreatedBy.Function)
		}
		if top.Persisted > 0 {
			line += fmt.Sprintf("; %d of them were already blocked at the first snapshot", top.Persisted)
		}
		s = append(s, line+".")
	}
	if c := r.CPU; c != nil {
		if len(c.Flat) > 0 {
			line := fmt.Sprintf("CPU: %.2f cores busy over %s; hottest function %s (%.1f%% flat)",
				c.Cores, secs(c.Seconds), shortFunc(c.Flat[0].Function), c.Flat[0].FlatPct)
			if len(c.UserFlat) > 0 && c.UserFlat[0].Function != c.Flat[0].Function {
				line += fmt.Sprintf(", hottest in user code %s (%.1f%%)", shortFunc(c.UserFlat[0].Function), c.UserFlat[0].FlatPct)
			}
			s = append(s, line+".")
		} else {
			s = append(s, fmt.Sprintf("CPU: no samples in %s (the process was idle).", secs(c.Seconds)))
		}
	}
	if a := r.Alloc; a != nil && len(a.AllocSpace) > 0 {
		s = append(s, fmt.Sprintf("Allocation: %s allocated (%s); top site %s (%.1f%%).",
			bytesStr(a.AllocBytes), a.AllocSource, shortFunc(a.AllocSpace[0].Function), a.AllocSpace[0].FlatPct))
	}
	if rt := r.Runtime; rt != nil && rt.GCPauses > 0 {
		s = append(s, fmt.Sprintf("GC: pause P50 %s, P99 %s over %d pauses; GC CPU %.2f%%.",
			durStr(rt.GCPauseP50Ns), durStr(rt.GCPauseP99Ns), rt.GCPauses, 100*rt.GCCPUFraction))
	}
	for _, c := range []struct {
		name string
		r    *ContentionReport
	}{{"Mutex", r.Mutex}, {"Block", r.Block}} {
		if c.r != nil && c.r.Status == ContentionOK && len(c.r.Sites) > 0 {
			s = append(s, fmt.Sprintf("%s contention: %s of delay, most from %s.",
				c.name, durStr(c.r.DelayNs), shortFunc(c.r.Sites[0].Function)))
		}
	}
	if r.Interrupted {
		s = append(s, "Capture was interrupted; figures cover what was gathered.")
	}
	if len(r.Warnings) > 0 {
		s = append(s, fmt.Sprintf("%d part(s) could not be captured, see warnings.", len(r.Warnings)))
	}
	return strings.Join(s, " ")
}

// shortFunc drops the module path: "github.com/a/b/pkg.F" → "pkg.F".
func shortFunc(fn string) string {
	base := fn
	if i := strings.IndexByte(base, '['); i >= 0 {
		base = base[:i]
	}
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

// secs formats seconds rounded to 0.1 s.
func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond).String()
}

func durStr(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	}
	return fmt.Sprintf("%dns", ns)
}

func bytesStr(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	f := float64(b)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return fmt.Sprintf("%.1f PiB", f/unit)
}
