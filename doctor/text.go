package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes r as indented JSON (the documented `--output json`
// schema) followed by a newline.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("doctor: writing JSON report: %w", err)
	}
	return nil
}

// WriteText writes r for people: the verdict first, then one section per
// capture. The layout is stable (golden-tested) but not a parsing format;
// use WriteJSON for automation.
func WriteText(w io.Writer, r *Report) error {
	tw := &textWriter{w: w}
	tw.printf("hotpath doctor  %s  captured %s\n\n", r.Target, r.CapturedAt.UTC().Format(time.RFC3339))
	tw.printf("VERDICT\n")
	for _, l := range wrap(r.Verdict, 96) {
		tw.printf("  %s\n", l)
	}

	g := r.Goroutines
	tw.printf("\nGOROUTINE LEAK SUSPECTS  (snapshots %s apart; %d → %d goroutines)\n", secs(g.IntervalSeconds), g.Before, g.After)
	if len(g.Suspects) == 0 {
		tw.printf("  none\n")
	}
	for i, s := range g.Suspects {
		tw.printf("  #%d  %+d goroutines (%d → %d), %s", i+1, s.Growth, s.Before, s.After, s.State)
		if s.WaitMinutes > 0 {
			tw.printf(", waiting up to %d min", s.WaitMinutes)
		}
		if s.Persisted >= 0 {
			tw.printf(", %d still blocked from the first snapshot", s.Persisted)
		}
		tw.printf("\n")
		if s.UserFrame != nil {
			tw.printf("      in          %s  %s\n", s.UserFrame.Function, fileLine(*s.UserFrame))
		}
		if s.CreatedBy != nil {
			tw.printf("      created by  %s  %s\n", s.CreatedBy.Function, fileLine(*s.CreatedBy))
		}
		if st := shownStack(s.Stack, 4); st != "" {
			tw.printf("      stack       %s\n", st)
		}
	}
	if !g.Dumps {
		tw.printf("  (no debug=2 dumps: states inferred from function names, persistence unknown)\n")
	}

	tw.printf("\nGOROUTINE GROUPS  (largest, not suspects)\n")
	if len(g.Groups) == 0 {
		tw.printf("  none\n")
	} else {
		t := tw.table("  BEFORE\tAFTER\tGROWTH\tSTATE\tFUNCTION\n")
		for _, gr := range g.Groups {
			fn := "(no frames)"
			switch {
			case gr.UserFrame != nil:
				fn = gr.UserFrame.Function
			case len(gr.Stack) > 0:
				fn = firstShown(gr.Stack)
				if e := entryFunc(gr.Stack); e != fn {
					fn += " ← " + e
				}
			}
			fmt.Fprintf(t, "  %d\t%d\t%+d\t%s\t%s\n", gr.Before, gr.After, gr.Growth, gr.State, fn)
		}
		tw.flush(t)
	}

	tw.printf("\nCPU")
	if c := r.CPU; c == nil {
		tw.printf("\n  not captured (see warnings)\n")
	} else {
		tw.printf("  (%s profile, %s of CPU = %.2f cores", secs(c.Seconds), durStr(c.CPUNs), c.Cores)
		if c.ProfilingNs > 0 {
			tw.printf("; %s of it producing these profiles, not listed", durStr(c.ProfilingNs))
		}
		tw.printf(")\n")
		tw.funcTable("top by flat", c.Flat, durStr)
		tw.funcTable("top by cumulative", c.Cum, durStr)
		tw.funcTable("top by flat, user code only", c.UserFlat, durStr)
	}

	tw.printf("\nALLOCATIONS")
	if a := r.Alloc; a == nil {
		tw.printf("\n  not captured (see warnings)\n")
	} else {
		tw.printf("\n")
		b := func(n int64) string { return bytesStr(n) }
		if a.AllocSource != "" {
			title := fmt.Sprintf("alloc_space: %s %s", bytesStr(a.AllocBytes), a.AllocSource)
			if a.ProfilingBytes > 0 {
				title += fmt.Sprintf("; %s of it producing these profiles, not listed", bytesStr(a.ProfilingBytes))
			}
			tw.funcTable(title, a.AllocSpace, b)
		}
		tw.funcTable(fmt.Sprintf("inuse_space: %s live at the last GC", bytesStr(a.InuseBytes)), a.InuseSpace, b)
	}

	tw.printf("\nCONTENTION\n")
	for _, c := range []struct {
		name string
		r    *ContentionReport
	}{{"mutex", r.Mutex}, {"block", r.Block}} {
		switch {
		case c.r == nil:
			tw.printf("  %s: not captured (see warnings)\n", c.name)
		case c.r.Status != ContentionOK:
			tw.printf("  %s: %s\n", c.name, c.r.Note)
		default:
			tw.funcTable(fmt.Sprintf("%s: %d contentions, %s delay; by user-code site", c.name, c.r.Contentions, durStr(c.r.DelayNs)), c.r.Sites, durStr)
		}
	}

	tw.printf("\nRUNTIME")
	if rt := r.Runtime; rt == nil {
		tw.printf("\n  not captured (see warnings)\n")
	} else {
		tw.printf("  (goroutines from the goroutine profile; GC and heap from /debug/pprof/heap?debug=1 MemStats)\n")
		tw.printf("  goroutines   %d\n", rt.Goroutines)
		if rt.Sources["num_gc"] != "" {
			which := "the last GCs since process start (none ran in the window)"
			if rt.GCPauseWindow {
				which = "GCs during the window"
			}
			tw.printf("  GC pauses    P50 %s  P99 %s  max %s  over %d pauses, %s\n",
				durStr(rt.GCPauseP50Ns), durStr(rt.GCPauseP99Ns), durStr(rt.GCPauseMaxNs), rt.GCPauses, which)
			tw.printf("  GC cycles    %d total, %d in the window\n", rt.NumGC, rt.GCsInWindow)
			tw.printf("  GC CPU       %.2f%% since process start\n", 100*rt.GCCPUFraction)
			tw.printf("  heap         %s allocated, %s in use; %s obtained from the OS\n",
				bytesStr(int64(rt.HeapAlloc)), bytesStr(int64(rt.HeapInuse)), bytesStr(int64(rt.Sys)))
		}
		if s, ok := rt.Sources["rss_bytes"]; ok {
			tw.printf("  resident     %s  from %s\n", bytesStr(int64(rt.RSSBytes)), s)
		}
		if s, ok := rt.Sources["process_cores"]; ok {
			tw.printf("  process CPU  %.2f cores  from %s\n", rt.ProcessCores, s)
		}
	}

	tw.printf("\nPROFILES\n")
	if len(r.Profiles) == 0 {
		tw.printf("  none saved\n")
	} else {
		t := tw.table("")
		for _, p := range r.Profiles {
			open := p.Open
			if open == "" {
				open = p.Path
			}
			fmt.Fprintf(t, "  %s\t%s\n", p.Name, open)
		}
		tw.flush(t)
	}
	if len(r.Warnings) > 0 {
		tw.printf("\nWARNINGS\n")
		for _, w := range r.Warnings {
			tw.printf("  - %s\n", w)
		}
	}
	if tw.err != nil {
		return fmt.Errorf("doctor: writing text report: %w", tw.err)
	}
	return nil
}

// textWriter keeps the first write error so the renderer reads linearly.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

func (t *textWriter) table(header string) *tabwriter.Writer {
	tab := tabwriter.NewWriter(t, 0, 0, 2, ' ', 0)
	if header != "" {
		fmt.Fprint(tab, header)
	}
	return tab
}

func (t *textWriter) flush(tab *tabwriter.Writer) {
	if err := tab.Flush(); err != nil && t.err == nil {
		t.err = err
	}
}

// Write lets tabwriter write through textWriter's error tracking.
func (t *textWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.w.Write(p)
	t.err = err
	return n, err
}

func (t *textWriter) funcTable(title string, fs []FuncStat, unit func(int64) string) {
	t.printf("  %s\n", title)
	if len(fs) == 0 {
		t.printf("    no samples\n")
		return
	}
	tab := t.table("    FLAT\tFLAT%\tCUM\tCUM%\tFUNCTION\n")
	for _, f := range fs {
		fmt.Fprintf(tab, "    %s\t%.1f%%\t%s\t%.1f%%\t%s\n", unit(f.Flat), f.FlatPct, unit(f.Cum), f.CumPct, f.Function)
	}
	t.flush(tab)
}

func fileLine(f Frame) string {
	if f.File == "" {
		return ""
	}
	if f.Line == 0 {
		return f.File
	}
	return fmt.Sprintf("%s:%d", f.File, f.Line)
}

// shownStack joins up to n frames a traceback would show, innermost first.
func shownStack(stack []Frame, n int) string {
	var parts []string
	for _, f := range stack {
		if hiddenFrame(f.Function) {
			continue
		}
		if len(parts) == n {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, f.Function)
	}
	return strings.Join(parts, " ← ")
}

// firstShown returns the innermost frame a traceback would show.
func firstShown(stack []Frame) string {
	for _, f := range stack {
		if !hiddenFrame(f.Function) {
			return f.Function
		}
	}
	return stack[0].Function
}

// wrap splits s into lines of at most width bytes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(s) {
		if cur.Len() > 0 && cur.Len()+1+len(word) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
