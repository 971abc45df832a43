package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteText renders r for a person: header, counters, latency table and a
// text histogram of the corrected latency. The output depends only on r.
func WriteText(w io.Writer, r *Result) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	mode := "closed loop"
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %s/s", fmtFloat(r.RateTarget))
	} else if r.Mode != "closed" {
		mode = r.Mode
	}
	conns := fmt.Sprintf("%d connections", r.Connections)
	if r.Streams > 1 {
		conns += fmt.Sprintf(" x %d streams", r.Streams)
	}
	p("Target      %s %s (%s, %s, %s)\n", r.Method, r.Target, r.Protocol, mode, conns)
	if r.Generators > 1 {
		p("Generators  %d (merged)\n", r.Generators)
	}
	warm := ""
	if r.WarmupS > 0 {
		warm = fmt.Sprintf(" after %s warm-up", fmtSeconds(r.WarmupS))
	}
	intr := ""
	if r.Interrupted {
		intr = " (interrupted)"
	}
	p("Duration    %s measured%s%s\n", fmtSeconds(r.DurationS), warm, intr)
	p("Requests    %d  (%s/s)  %d ok, %d errors\n", r.Requests, fmtFloat(r.RPS), r.Successes, r.Errors)
	p("Transfer    %s in, %s out\n", fmtBytes(r.BytesIn), fmtBytes(r.BytesOut))
	if len(r.Status) > 0 {
		p("Status     ")
		for _, k := range sortedKeys(r.Status) {
			p(" %s=%d", k, r.Status[k])
		}
		p("\n")
	}
	if len(r.ErrorClasses) > 0 {
		p("Errors     ")
		for _, k := range sortedKeys(r.ErrorClasses) {
			p(" %s=%d", k, r.ErrorClasses[k])
		}
		p("\n")
	}
	if r.Mode == "open" {
		p("Late sends  %d (no free connection when due; latency still counts from the intended time)\n", r.LateSends)
	}
	if r.Responses() == 0 {
		// A table of zeros would read as a very fast server.
		p("\nLatency     none: no request got a response (see Errors)\n")
		return writeCost(bw, r)
	}
	p("\n%-14s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "latency", "min", "mean", "stdev",
		"p50", "p75", "p90", "p99", "p99.9", "p99.99", "max")
	row := func(name string, s Summary) {
		p("%-14s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", name, fmtUs(float64(s.Min)), fmtUs(s.Mean),
			fmtUs(s.Stdev), fmtUs(float64(s.P50)), fmtUs(float64(s.P75)), fmtUs(float64(s.P90)),
			fmtUs(float64(s.P99)), fmtUs(float64(s.P999)), fmtUs(float64(s.P9999)), fmtUs(float64(s.Max)))
	}
	if r.Mode == "open" {
		row("corrected", r.Latency)
		row("service time", r.ServiceTime)
	} else {
		row("latency", r.Latency)
	}
	if lat, _, err := r.DecodeHistograms(); err == nil && lat.TotalCount() > 0 {
		p("\nLatency distribution\n")
		writeBars(bw, lat)
	}
	return writeCost(bw, r)
}

// writeCost ends the text report with the CPU cost lines and flushes bw.
func writeCost(bw *bufio.Writer, r *Result) error {
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	if r.Generator != nil || r.Server != nil {
		p("\n")
	}
	if g := r.Generator; g != nil {
		p("Generator   CPU %s (%s µs/request)\n", fmtSeconds(g.Seconds), fmtFloat(g.PerRequestUs))
	}
	if s := r.Server; s != nil {
		p("Server      pid %d: CPU %s (%s µs/request), peak RSS %s\n", s.PID, fmtSeconds(s.Seconds),
			fmtFloat(s.PerRequestUs), fmtBytes(s.PeakRSSBytes))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: write text: %w", err)
	}
	return nil
}

// writeBars prints up to 10 log-spaced bins between min and max.
func writeBars(w io.Writer, h *hdrhistogram.Histogram) {
	const bins, width = 10, 40
	lo, hi := float64(h.Min()), float64(h.Max())
	if lo < 1 {
		lo = 1
	}
	n := bins
	if hi <= lo {
		n = 1
	}
	edges := make([]float64, n)
	for i := range edges {
		edges[i] = lo * math.Pow(hi/lo, float64(i+1)/float64(n))
	}
	edges[n-1] = hi
	counts := make([]int64, n)
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		v := float64(b.From)
		i := 0
		for i < n-1 && v > edges[i] {
			i++
		}
		counts[i] += b.Count
	}
	total := h.TotalCount()
	for i, c := range counts {
		bar := int(math.Round(float64(c) / float64(total) * width))
		fmt.Fprintf(w, "  <= %9s  %6.2f%%  %-*s %d\n", fmtUs(edges[i]), 100*float64(c)/float64(total),
			width, strings.Repeat("#", bar), c)
	}
}

func fmtUs(us float64) string {
	switch {
	case us < 1000:
		return fmtFloat(us) + "µs"
	case us < 1e6:
		return fmt.Sprintf("%.2fms", us/1e3)
	default:
		return fmt.Sprintf("%.2fs", us/1e6)
	}
}

func fmtSeconds(s float64) string { return fmt.Sprintf("%.2fs", s) }

func fmtFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.2f", f)
}

func fmtBytes(b uint64) string {
	switch {
	case b < 1<<10:
		return fmt.Sprintf("%d B", b)
	case b < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	case b < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
}
