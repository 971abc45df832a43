// Package doctor diagnoses a running Go service through its net/http/pprof
// endpoints: it captures CPU, heap, allocation, mutex, block and goroutine
// profiles plus runtime figures, names the hottest functions and allocation
// sites, and flags goroutine groups that grow while blocked as leak suspects.
// It works against any Go program that mounts net/http/pprof, not only hotpath.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// Defaults applied to zero Config fields. With them a run lasts about
// DefaultInterval plus a second or two.
const (
	DefaultAdmin    = "http://127.0.0.1:6060"
	DefaultCPU      = 5 * time.Second
	DefaultInterval = 10 * time.Second
	DefaultTop      = 10
)

// Config says what to diagnose and how long to watch. The zero value of each
// field selects its documented default.
type Config struct {
	// Admin is the target's admin address, "http://host:port" (pprof is then
	// expected at /debug/pprof/) or the full URL of the pprof index.
	// Default DefaultAdmin.
	Admin string
	// Token, if set, is sent as "Authorization: Bearer <Token>".
	Token string
	// CPU is the length of the CPU profile and of the allocation, mutex and
	// block delta profiles taken at the same time; rounded up to whole
	// seconds (pprof's unit). Default DefaultCPU.
	CPU time.Duration
	// Interval separates the two goroutine snapshots; rounded up to whole
	// seconds and raised to CPU if shorter, since the profiles run between
	// the snapshots. Default DefaultInterval.
	Interval time.Duration
	// Top bounds every "top functions" list and the non-suspect goroutine
	// groups shown. Default DefaultTop.
	Top int
	// MinGrowth is the smallest growth that makes a blocked group a leak
	// suspect. Default 1.
	MinGrowth int
	// OutDir, if set, receives every raw profile (created if missing). Empty
	// saves nothing.
	OutDir string
	// Client sends the requests. Default: a client of Run's own whose idle
	// connections are closed when Run returns. Each request is bounded by
	// the profile length plus 30 s whatever the client.
	Client *http.Client

	ownClient bool
}

// ConfigError reports an invalid Config field. Run returns it before
// sending any request.
type ConfigError struct {
	Field string // Config field name, e.g. "Admin"
	Err   error
}

func (e *ConfigError) Error() string { return "doctor: " + e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// withDefaults applies defaults to a copy of c and checks it.
func (c Config) withDefaults() (Config, *url.URL, error) {
	if c.Admin == "" {
		c.Admin = DefaultAdmin
	}
	base, err := pprofBase(c.Admin)
	if err != nil {
		return c, nil, &ConfigError{"Admin", err}
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"CPU", &c.CPU, DefaultCPU}, {"Interval", &c.Interval, DefaultInterval}} {
		switch {
		case *d.v < 0:
			return c, nil, &ConfigError{d.name, fmt.Errorf("duration %v is negative", *d.v)}
		case *d.v == 0:
			*d.v = d.def
		}
		*d.v = time.Duration(math.Ceil(d.v.Seconds())) * time.Second
	}
	c.Interval = max(c.Interval, c.CPU)
	switch {
	case c.Top < 0:
		return c, nil, &ConfigError{"Top", fmt.Errorf("%d is negative", c.Top)}
	case c.Top == 0:
		c.Top = DefaultTop
	}
	switch {
	case c.MinGrowth < 0:
		return c, nil, &ConfigError{"MinGrowth", fmt.Errorf("%d is negative", c.MinGrowth)}
	case c.MinGrowth == 0:
		c.MinGrowth = 1
	}
	if c.Client == nil {
		// A private transport, so Run can close its idle connections
		// (and their goroutines) when it returns.
		c.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		c.ownClient = true
	}
	return c, base, nil
}

// Run captures the target's profiles over about Config.Interval and returns
// the report. It fails only when the target cannot be diagnosed at all: an
// invalid Config (*ConfigError), or a first request answered with no response
// (ErrUnreachable), 401/403 (ErrUnauthorized) or something that is not
// pprof (ErrNotPprof). Later failures of single profiles become
// Report.Warnings. If ctx is cancelled during the capture window, Run takes
// the second snapshot at once and returns what it gathered with
// Report.Interrupted set. Run does not print; it writes files only under
// Config.OutDir. Runs may proceed concurrently, but not against one target:
// the Go runtime allows one CPU profile per process at a time, so the later
// run's CPU section becomes a warning.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, base, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.ownClient {
		defer cfg.Client.CloseIdleConnections()
	}
	f := &fetcher{base: base, token: cfg.Token, client: cfg.Client}
	r := &Report{Target: base.String(), Profiles: []SavedProfile{}, Warnings: []string{}}
	c := &capture{cfg: cfg, f: f, r: r}

	// First snapshot. The goroutine profile doubles as the probe: any
	// failure here is fatal and says what is wrong with the target.
	start := time.Now()
	r.CapturedAt = start.UTC().Truncate(time.Second)
	ctx0, cancel0 := context.WithTimeout(ctx, reqTimeout(0))
	g0, raw, err := f.getProfile(ctx0, "goroutine", nil, "goroutine")
	cancel0()
	if err != nil {
		return nil, fmt.Errorf("doctor: %w", err)
	}
	if err := c.save("goroutine-1", "goroutine-1.pb.gz", raw); err != nil {
		return nil, err
	}
	before := snapshot{prof: g0}
	before.dump = c.dump(ctx, "goroutine-1")
	ms0 := c.memStats(ctx, "heap-1")
	prom0 := c.prom(ctx)
	mutexRate := c.mutexRate(ctx)

	// Window: delta and CPU profiles run together for cfg.CPU; the
	// goroutine interval runs from the first snapshot.
	sec := strconv.Itoa(int(c.cfg.CPU / time.Second))
	q := url.Values{"seconds": {sec}}
	var (
		wg                 sync.WaitGroup
		cpu, allocs, mu, b *profile.Profile
		allocErr           error
	)
	wg.Go(func() { cpu, _ = c.profile(ctx, "profile", q, "cpu.pb.gz", "cpu", "samples") })
	wg.Go(func() {
		allocs, allocErr = c.profile(ctx, "allocs", q, "allocs-delta.pb.gz", "allocs", "alloc_objects")
	})
	wg.Go(func() { mu, _ = c.profile(ctx, "mutex", q, "mutex-delta.pb.gz", "mutex", "contentions") })
	wg.Go(func() { b, _ = c.profile(ctx, "block", q, "block-delta.pb.gz", "block", "contentions") })
	wg.Wait()
	if ctx.Err() == nil {
		t := time.NewTimer(time.Until(start.Add(cfg.Interval)))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if ctx.Err() != nil {
		r.Interrupted = true
	}
	// Second snapshot: taken even after an interrupt, on a fresh bounded
	// context, so an interrupted run still reports goroutine growth.
	ctx2, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	elapsed := time.Since(start)
	after := snapshot{}
	g1, raw, err := f.getProfile(ctx2, "goroutine", nil, "goroutine")
	if err != nil {
		c.warn("second goroutine snapshot: %v", err)
	} else {
		after.prof = g1
		if err := c.save("goroutine-2", "goroutine-2.pb.gz", raw); err != nil {
			return nil, err
		}
		after.dump = c.dump(ctx2, "goroutine-2")
	}
	ms1 := c.memStats(ctx2, "heap-2")
	prom1 := c.prom(ctx2)
	promElapsed := time.Since(start)
	heap, _ := c.profile(ctx2, "heap", nil, "heap.pb.gz", "heap", "alloc_objects")
	if allocErr != nil && allocs == nil && !errors.Is(ctx.Err(), context.Canceled) {
		// Some targets cap request time below the window; the cumulative
		// profile still ranks allocation sites, over the process lifetime.
		allocs, _ = c.profile(ctx2, "allocs", nil, "allocs.pb.gz", "allocs", "alloc_objects")
		if allocs != nil {
			c.allocLifetime = true
		}
	}

	c.goroutines(before, after, elapsed)
	c.cpu(cpu)
	c.alloc(allocs, heap)
	r.Mutex = contention(mu, mutexRate, cfg.Top, "runtime.SetMutexProfileFraction")
	r.Block = contention(b, -1, cfg.Top, "runtime.SetBlockProfileRate")
	c.runtime(ms0, ms1, g1)
	c.process(prom0, prom1, promElapsed)
	r.Verdict = buildVerdict(r)
	// The window's profiles were saved concurrently; list them in a
	// stable order.
	slices.SortStableFunc(r.Profiles, func(a, b SavedProfile) int { return strings.Compare(a.Name, b.Name) })
	return r, nil
}

// shellQuote quotes p for a POSIX shell when it holds anything but
// [A-Za-z0-9_./:=+-], so the printed commands can be pasted.
func shellQuote(p string) string {
	safe := p != ""
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:=+-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

// capture carries the state of one Run.
type capture struct {
	cfg           Config
	f             *fetcher
	r             *Report
	mu            sync.Mutex // guards r.Warnings and r.Profiles during the window
	allocLifetime bool
}

// reqTimeout bounds one request: the profile length plus slack for the
// transfer.
func reqTimeout(d time.Duration) time.Duration { return d + 30*time.Second }

func (c *capture) warn(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.r.Warnings = append(c.r.Warnings, fmt.Sprintf(format, args...))
}

// save writes raw under OutDir (if set) and records how to open it.
func (c *capture) save(name, file string, raw []byte) error {
	if c.cfg.OutDir == "" || raw == nil {
		return nil
	}
	if err := os.MkdirAll(c.cfg.OutDir, 0o755); err != nil {
		return &ConfigError{"OutDir", err}
	}
	path := filepath.Join(c.cfg.OutDir, file)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return &ConfigError{"OutDir", fmt.Errorf("saving %s: %w", name, err)}
	}
	open := ""
	if strings.HasSuffix(file, ".pb.gz") {
		open = "go tool pprof -http=: " + shellQuote(path)
		if name == "goroutine-2" {
			open = "go tool pprof -http=: -diff_base=" + shellQuote(filepath.Join(c.cfg.OutDir, "goroutine-1.pb.gz")) +
				" " + shellQuote(path)
		}
	}
	c.mu.Lock()
	c.r.Profiles = append(c.r.Profiles, SavedProfile{Name: name, Path: path, Open: open})
	c.mu.Unlock()
	return nil
}

// profile fetches, saves and parses one protobuf profile; failures become
// warnings and a nil profile.
func (c *capture) profile(ctx context.Context, name string, q url.Values, file, label, wantType string) (*profile.Profile, error) {
	var d time.Duration
	if s := q.Get("seconds"); s != "" {
		d = c.cfg.CPU
	}
	ctx, cancel := context.WithTimeout(ctx, reqTimeout(d))
	defer cancel()
	p, raw, err := c.f.getProfile(ctx, name, q, wantType)
	if err != nil {
		c.warn("%s profile: %v", label, err)
		return nil, err
	}
	if err := c.save(label, file, raw); err != nil {
		c.warn("%v", err)
	}
	return p, nil
}

// dump fetches and parses a debug=2 goroutine dump; nil on failure.
func (c *capture) dump(ctx context.Context, name string) []dumpGoroutine {
	ctx, cancel := context.WithTimeout(ctx, reqTimeout(0))
	defer cancel()
	raw, err := c.f.get(ctx, "goroutine", url.Values{"debug": {"2"}})
	if err != nil {
		c.warn("goroutine dump (debug=2): %v", err)
		return nil
	}
	if err := c.save(name+"-dump", name+".txt", raw); err != nil {
		c.warn("%v", err)
	}
	d := parseDump(raw)
	if d == nil {
		c.warn("goroutine dump (debug=2): no goroutine records in %d bytes", len(raw))
		return nil
	}
	return d
}

// memStats fetches heap?debug=1 and parses its MemStats trailer.
func (c *capture) memStats(ctx context.Context, name string) *memStats {
	ctx, cancel := context.WithTimeout(ctx, reqTimeout(0))
	defer cancel()
	raw, err := c.f.get(ctx, "heap", url.Values{"debug": {"1"}})
	if err != nil {
		c.warn("runtime figures (heap?debug=1): %v", err)
		return nil
	}
	if err := c.save(name+"-memstats", name+".txt", raw); err != nil {
		c.warn("%v", err)
	}
	ms := parseMemStats(raw)
	if !ms.Found {
		c.warn("runtime figures: heap?debug=1 has no runtime.MemStats section")
		return nil
	}
	return &ms
}

// prom fetches the Prometheus page beside pprof; nil when there is none
// (most pprof targets have no /metrics, so this is not a warning).
func (c *capture) prom(ctx context.Context) *promFigures {
	ctx, cancel := context.WithTimeout(ctx, reqTimeout(0))
	defer cancel()
	raw, err := c.f.getURL(ctx, c.f.metricsURL())
	if err != nil {
		return nil
	}
	pf, err := parseProm(raw)
	if err != nil || !(pf.HaveRSS || pf.HaveCPU) {
		return nil
	}
	return &pf
}

// process adds the /metrics figures to the runtime report. The CPU figure
// is measured over the stretch between the two fetches, which spans the
// capture window.
func (c *capture) process(p0, p1 *promFigures, elapsed time.Duration) {
	rt := c.r.Runtime
	if rt == nil || p1 == nil {
		return
	}
	src := c.f.metricsURL()
	if p1.HaveRSS {
		rt.RSSBytes = uint64(p1.RSS)
		rt.Sources["rss_bytes"] = src + " (process_resident_memory_bytes)"
	}
	if p0 != nil && p0.HaveCPU && p1.HaveCPU && p1.CPUSeconds >= p0.CPUSeconds && elapsed > 0 {
		rt.ProcessCores = math.Round((p1.CPUSeconds-p0.CPUSeconds)/elapsed.Seconds()*100) / 100
		rt.Sources["process_cores"] = src + " (process_cpu_seconds_total, over the window)"
	}
}

// mutexRate reads the mutex sampling fraction from mutex?debug=1; -1 when
// the page does not say.
func (c *capture) mutexRate(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, reqTimeout(0))
	defer cancel()
	raw, err := c.f.get(ctx, "mutex", url.Values{"debug": {"1"}})
	if err != nil {
		return -1
	}
	for _, line := range strings.SplitN(string(raw[:min(len(raw), 4096)]), "\n", 8) {
		if v, ok := strings.CutPrefix(line, "sampling period="); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
	}
	return -1
}

func (c *capture) goroutines(before, after snapshot, elapsed time.Duration) {
	gr := &c.r.Goroutines
	gr.IntervalSeconds = math.Round(elapsed.Seconds()*10) / 10
	gr.Suspects, gr.Groups = []GoroutineGroup{}, []GoroutineGroup{}
	gr.Before = totalValue(before.prof)
	if after.prof == nil {
		return
	}
	gr.After = totalValue(after.prof)
	gr.Compared = true
	gr.Dumps = before.dump != nil && after.dump != nil
	for _, g := range analyzeGoroutines(before, after, int64(c.cfg.MinGrowth)) {
		switch {
		case g.Suspect:
			gr.Suspects = append(gr.Suspects, g)
		case len(gr.Groups) < c.cfg.Top:
			gr.Groups = append(gr.Groups, g)
		}
	}
}

func totalValue(p *profile.Profile) int64 {
	var n int64
	if p == nil {
		return 0
	}
	for _, s := range p.Sample {
		if len(s.Value) > 0 {
			n += s.Value[0]
		}
	}
	return n
}

func (c *capture) cpu(p *profile.Profile) {
	if p == nil {
		return
	}
	vi := sampleIndex(p, "cpu")
	cr := &CPUReport{Seconds: float64(p.DurationNanos) / 1e9}
	if cr.Seconds == 0 {
		cr.Seconds = c.cfg.CPU.Seconds()
	}
	cr.Flat, cr.CPUNs = topFunctions(p, vi, c.cfg.Top, false)
	cr.Cum, _ = topFunctions(p, vi, c.cfg.Top, true)
	cr.ProfilingNs = profilingValue(p, vi)
	cr.UserFlat = []FuncStat{}
	all, _ := topFunctions(p, vi, math.MaxInt, false)
	for _, f := range all {
		if len(cr.UserFlat) < c.cfg.Top && !isStdFunc(f.Function) {
			cr.UserFlat = append(cr.UserFlat, f)
		}
	}
	cr.Cores = math.Round(float64(cr.CPUNs)/1e9/cr.Seconds*100) / 100
	c.r.CPU = cr
}

func (c *capture) alloc(allocs, heap *profile.Profile) {
	if allocs == nil && heap == nil {
		return
	}
	ar := &AllocReport{AllocSpace: []FuncStat{}, InuseSpace: []FuncStat{}}
	if allocs != nil {
		ar.AllocSource = fmt.Sprintf("during the %s window", c.cfg.CPU)
		// A target too old for delta profiles ignores "seconds" and sends
		// the cumulative profile, which carries no duration.
		if c.allocLifetime || allocs.DurationNanos == 0 {
			ar.AllocSource = "since process start"
		}
		vi := sampleIndex(allocs, "alloc_space")
		ar.AllocSpace, ar.AllocBytes = topFunctions(allocs, vi, c.cfg.Top, false)
		ar.ProfilingBytes = profilingValue(allocs, vi)
	}
	if heap != nil {
		ar.InuseSpace, ar.InuseBytes = topFunctions(heap, sampleIndex(heap, "inuse_space"), c.cfg.Top, false)
	}
	c.r.Alloc = ar
}

// contention summarises a delta mutex/block profile; rate is the sampling
// rate the target reported, or -1 when unknown.
func contention(p *profile.Profile, rate, top int, knob string) *ContentionReport {
	if p == nil {
		return nil
	}
	cr := &ContentionReport{}
	vi := sampleIndex(p, "delay")
	cr.Top, cr.DelayNs = topFunctions(p, vi, top, false)
	cr.Sites = topSites(p, vi, top)
	cr.Contentions = sumValues(p, sampleIndex(p, "contentions"))
	switch {
	case cr.DelayNs > 0 || cr.Contentions > 0:
		cr.Status = ContentionOK
	case rate == 0:
		cr.Status = ContentionDisabled
		cr.Note = "the target has not enabled this profile (" + knob + " is 0)"
	default:
		cr.Status = ContentionNoSamples
		cr.Note = "no samples: the target has not enabled it (" + knob + ") or nothing waited during the window"
	}
	return cr
}

func sumValues(p *profile.Profile, vi int) int64 {
	if vi < 0 {
		return 0
	}
	var n int64
	for _, s := range p.Sample {
		if vi < len(s.Value) {
			n += s.Value[vi]
		}
	}
	return n
}

func (c *capture) runtime(ms0, ms1 *memStats, g1 *profile.Profile) {
	rt := &RuntimeReport{Sources: map[string]string{}}
	const memSrc = "/debug/pprof/heap?debug=1 (runtime.MemStats)"
	if g1 != nil {
		rt.Goroutines = totalValue(g1)
		rt.Sources["goroutines"] = "/debug/pprof/goroutine (second snapshot)"
	}
	if ms1 == nil {
		if g1 == nil {
			return
		}
		c.r.Runtime = rt
		return
	}
	rt.NumGC = ms1.Scalars["NumGC"]
	rt.HeapAlloc = ms1.Scalars["HeapAlloc"]
	rt.HeapInuse = ms1.Scalars["HeapInuse"]
	rt.Sys = ms1.Scalars["Sys"]
	rt.GCCPUFraction = ms1.Floats["GCCPUFraction"]
	if v, ok := ms1.Scalars["GCCPUFraction"]; ok { // printed as an integer when 0
		rt.GCCPUFraction = float64(v)
	}
	var pauses []time.Duration
	if ms0 != nil && ms1.Scalars["NumGC"] >= ms0.Scalars["NumGC"] {
		rt.GCsInWindow = ms1.Scalars["NumGC"] - ms0.Scalars["NumGC"]
		if rt.GCsInWindow > 0 {
			pauses = ms1.pauses(ms0.Scalars["NumGC"])
			rt.GCPauseWindow = true
		}
	}
	if len(pauses) == 0 {
		pauses = ms1.pauses(0)
	}
	rt.GCPauses = len(pauses)
	rt.GCPauseP50Ns = int64(quantile(pauses, 0.50))
	rt.GCPauseP99Ns = int64(quantile(pauses, 0.99))
	rt.GCPauseMaxNs = int64(quantile(pauses, 1))
	for _, k := range []string{"num_gc", "gcs_in_window", "gc_pauses", "gc_cpu_fraction", "heap_alloc_bytes", "heap_inuse_bytes", "sys_bytes"} {
		rt.Sources[k] = memSrc
	}
	rt.Sources["gc_cpu_fraction"] = memSrc + ", since process start"
	c.r.Runtime = rt
}
