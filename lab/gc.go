package lab

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The seed's §3.1–3.2 figures: net/http → pooled fasthttp-style server.
var (
	seedGCNetHTTP  = map[string]float64{"allocs_per_s": 128000, "gc_pause_p99_ms": 1.8, "gc_per_min": 3.2}
	seedGCFastHTTP = map[string]float64{"allocs_per_s": 3200, "gc_pause_p99_ms": 0.2, "gc_per_min": 0}
)

// gcLog collects the gctrace lines a server writes.
type gcLog struct {
	mu     sync.Mutex
	cycles []gcCycle
}

func (g *gcLog) line(b []byte) {
	if c, err := parseGCTrace(b); err == nil {
		g.mu.Lock()
		g.cycles = append(g.cycles, c)
		g.mu.Unlock()
	}
}

// mark returns the number of cycles seen so far.
func (g *gcLog) mark() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.cycles)
}

// since returns the cycles seen after mark m.
func (g *gcLog) since(m int) []gcCycle {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gcCycle(nil), g.cycles[m:]...)
}

// gcConns is the gc scenario's concurrency: the 2,000 connections
// (200 with --quick).
func (l *lab) gcConns() int {
	if l.cfg.Quick {
		return 200
	}
	return 2000
}

func (l *lab) runGC(ctx context.Context) Scenario {
	sc := Scenario{ID: GC, Title: "GC: net/http engine vs fasthttp engine at high concurrency (seed §3.1–3.2)"}
	contenders := []contender{
		{Name: "hotpath-nethttp", Server: "hotpath serve --engine nethttp (defaults)", Seed: seedGCNetHTTP},
		{Name: "hotpath-fasthttp", Server: "hotpath serve --engine fasthttp (defaults)", Seed: seedGCFastHTTP},
	}
	rounds := l.cfg.Rounds
	rs := newRowSet(contenders)
	l.measure(ctx, GC, rs, rounds, "gc", func(n string) string { return fmt.Sprintf("%s with %d connections", n, l.gcConns()) },
		func(d *rowData, round int) error { return l.gcRound(ctx, d, round) })
	sc.Rows = rs.rows("rps")
	sc.Method = fmt.Sprintf("Each engine (hotpath serve, defaults, GOMAXPROCS=1, pinned: %v) under a closed loop of %d connections "+
		"for %v after a %v warm-up, %d interleaved rounds. Allocations: growth of go_memstats_mallocs_total on the admin /metrics "+
		"over the run (the closing scrape's own allocations included). GC cycles and pauses: GODEBUG=gctrace=1 lines written "+
		"during the run; a cycle's pause is its two stop-the-world phases. The seed measured at 10,000 connections.",
		l.pinned, l.gcConns(), l.cfg.Duration, l.warmup(), rounds)
	return sc
}

// gcRound measures one round of one engine.
func (l *lab) gcRound(ctx context.Context, d *rowData, round int) error {
	engine := d.c.Name[len("hotpath-"):]
	var gl gcLog
	spec := hotpathServe(engine, "GODEBUG=gctrace=1")(l)
	spec.OnLine = gl.line
	s, err := l.launch(ctx, spec)
	if err != nil {
		return err
	}
	defer s.stop()
	run := benchRun{Connections: l.gcConns(), Duration: l.warmup()}
	if _, err := l.bench(ctx, s.URL(), run); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	_, _ = scrapeMallocs(ctx, s.admin) // the first scrape initialises collectors
	m0, err := scrapeMallocs(ctx, s.admin)
	if err != nil {
		return err
	}
	g0, t0 := gl.mark(), time.Now()
	c0, err := groupCPU(s.pgid)
	if err != nil {
		return err
	}
	run.Duration = l.cfg.Duration
	res, err := l.bench(ctx, s.URL(), run)
	if err != nil {
		return err
	}
	c1, err := groupCPU(s.pgid)
	if err != nil {
		return err
	}
	m1, err := scrapeMallocs(ctx, s.admin)
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	time.Sleep(50 * time.Millisecond) // the last gctrace lines through the pipe
	cycles := gl.since(g0)
	if res.Successes == 0 {
		return fmt.Errorf("no successful response (%d errors)", res.Errors)
	}
	d.add("rps", round, res.RPS)
	d.add("p99_ms", round, float64(res.Latency.P99)/1000)
	d.add("cpu_us_per_req", round, float64((c1-c0).Microseconds())/float64(res.Requests))
	d.add("allocs_per_s", round, (m1-m0)/elapsed.Seconds())
	d.add("allocs_per_req", round, (m1-m0)/float64(res.Requests))
	d.add("gc_per_min", round, float64(len(cycles))/elapsed.Minutes())
	pauses := make([]float64, len(cycles))
	for i, c := range cycles {
		pauses[i] = float64(c.Pause) / float64(time.Millisecond)
	}
	if len(pauses) > 0 {
		d.add("gc_pause_p99_ms", round, percentile(pauses, 99))
		d.add("gc_pause_max_ms", round, percentile(pauses, 100))
	}
	d.hist = append(d.hist, res)
	return nil
}

// percentile returns the p-th percentile of xs (nearest rank); NaN for none.
func percentile(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	if len(s) == 0 {
		return Median(s)
	}
	sortFloats(s)
	k := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(k, len(s)-1))]
}

// scrapeMallocs reads go_memstats_mallocs_total from a server's admin
// /metrics.
func scrapeMallocs(ctx context.Context, admin string) (float64, error) {
	return scrapeCounter(ctx, admin, "go_memstats_mallocs_total")
}

// scrapeCounter reads the counter name from a server's admin /metrics.
func scrapeCounter(ctx context.Context, admin, name string) (float64, error) {
	if admin == "" {
		return 0, fmt.Errorf("no admin listener")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s/metrics: %w", admin, err)
	}
	defer res.Body.Close()
	return parseCounter(res.Body, name)
}

// parseMallocs reads go_memstats_mallocs_total from Prometheus text.
func parseMallocs(r io.Reader) (float64, error) { return parseCounter(r, "go_memstats_mallocs_total") }

// parseCounter reads the first sample of counter name from Prometheus text.
func parseCounter(r io.Reader, name string) (float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return 0, fmt.Errorf("/metrics: %w", err)
	}
	f, ok := fams[name]
	if !ok || len(f.GetMetric()) == 0 {
		return 0, fmt.Errorf("/metrics: no %s", name)
	}
	m := f.GetMetric()[0]
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue(), nil
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue(), nil
	}
	return 0, fmt.Errorf("/metrics: %s is not a counter", name)
}
