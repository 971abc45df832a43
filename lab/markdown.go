package lab

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// columns returns, for a scenario, the metric keys its table shows, in
// order: the preferred ones first, then any other a row has.
func columns(s Scenario) []string {
	pref := []string{"rps", "cpu_us_per_req", "p50_ms", "p95_ms", "p99_ms", "alloc_kb_per_req", "startup_rss_mb", "startup_anon_mb", "conn_kb",
		"ab_rps", "ab_p99_ms", "allocs_per_s", "allocs_per_req", "gc_per_min", "gc_pause_p99_ms", "gc_pause_max_ms"}
	has := map[string]bool{}
	for _, r := range s.Rows {
		for k := range r.Metrics {
			has[k] = true
		}
		for k := range r.Seed {
			has[k] = true
		}
	}
	var cols []string
	for _, k := range pref {
		if has[k] {
			cols = append(cols, k)
			delete(has, k)
		}
	}
	var rest []string
	for k := range has {
		if k != "open_loop_rps" && k != "p999_ms" {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(cols, rest...)
}

// cell formats one row's figure for key: the median, the rounds' min–max
// when there were several, and the seed's figure when it has one.
func cell(r Row, key string) (ours, seed string) {
	if v, ok := r.Metrics[key]; ok {
		ours = fmtNum(v)
		if sp, ok := r.Spread[key]; ok && sp.Min != sp.Max {
			ours += " (" + fmtNum(sp.Min) + "–" + fmtNum(sp.Max) + ")"
		}
	} else {
		ours = "–"
	}
	if v, ok := r.Seed[key]; ok {
		seed = fmtNum(v)
	}
	return ours, seed
}

// WriteMarkdown writes the report as Markdown: the run's context, then one
// table per scenario (ours, with the seed's figure in brackets where it
// has one), its ratios, divergences and notes.
func (r *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	p("# hotpath lab report\n\n")
	p("- Date: %s; run took %.0f s%s\n", r.Date.Format("2006-01-02 15:04 UTC"), r.DurationS, map[bool]string{true: " (interrupted)"}[r.Interrupted])
	p("- Command: `%s`\n", r.Command)
	p("- hotpath %s, %s\n", r.Version, r.GoVersion)
	p("- Machine: %s, %d cores, %.0f MB, %s, %s; load average %s at start, %s at end\n",
		r.Machine.CPUModel, r.Machine.Cores, r.Machine.MemoryMB, r.Machine.Kernel, r.Machine.OS, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
	p("- Settings: %d rounds of %.1f s, pinned %v (server CPU %d, load CPU %d), %d idle connections, quick %v\n",
		r.Settings.Rounds, r.Settings.RunS, r.Settings.Pinned, r.Settings.ServerCPU, r.Settings.LoadCPU, r.Settings.IdleConnections, r.Settings.Quick)
	if len(r.Settings.Servers) > 0 {
		p("- Servers rows (--servers): %s\n", strings.Join(r.Settings.Servers, ", "))
	}
	if b := r.Settings.Base; b != nil {
		p("- Base binary (--base, rows base-…): `%s`, %s\n", b.Path, b.Version)
		if len(r.Settings.BaseArgs) > 0 {
			p("- Base rows' extra serve arguments (--base-args): `%s`\n", strings.Join(r.Settings.BaseArgs, " "))
		}
	}
	p("- Peers:")
	for _, n := range PeerNames() {
		p(" %s: %s;", n, r.Peers[n])
	}
	p("\n\nFigures are medians over rounds, (min–max) of the rounds beside them; the seed's figure, where it states one, in [brackets].\n")
	for _, s := range r.Scenarios {
		p("\n## %s — %s\n\n", s.ID, s.Title)
		if s.Method != "" {
			p("%s\n\n", s.Method)
		}
		cols := columns(s)
		p("| row | status |")
		for _, c := range cols {
			p(" %s |", metricLabel(c))
		}
		p("\n|---|---|%s\n", strings.Repeat("---:|", len(cols)))
		for _, row := range s.Rows {
			p("| %s | %s |", row.Name, strings.ReplaceAll(row.Status, "|", "/"))
			for _, c := range cols {
				ours, seed := cell(row, c)
				if seed != "" {
					ours += " [" + seed + "]"
				}
				p(" %s |", ours)
			}
			p("\n")
		}
		if len(s.Ratios) > 0 {
			p("\nCPU per request, ratios (median of medians; per-round median):\n\n")
			for _, q := range s.Ratios {
				p("- %s: **%.2f×** (per round %.2f×)", q.Name, q.Value, q.PerRoundMedian)
				if q.Target != "" {
					p(", target %s", q.Target)
				}
				if q.Seed != 0 {
					p(", seed ≈ %.2f× (\"~40 %% less CPU\")", q.Seed)
				}
				p("\n")
			}
		}
		var div []string
		for _, row := range s.Rows {
			for _, d := range row.Divergences {
				div = append(div, row.Name+" — "+d)
			}
		}
		if len(div) > 0 {
			p("\nWhere ours differs from the seed:\n\n")
			for _, d := range div {
				p("- %s\n", d)
			}
		}
		var notes []string
		for _, row := range s.Rows {
			for _, n := range row.Notes {
				notes = append(notes, row.Name+": "+n)
			}
		}
		notes = append(notes, s.Notes...)
		if len(notes) > 0 {
			p("\nNotes:\n\n")
			for _, n := range notes {
				p("- %s\n", n)
			}
		}
	}
	return bw.Flush()
}
