package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotpath-dev/hotpath/report"
)

// contender is one row of a scenario: how to start it, and the peer it
// needs ("" for the Go rows, which the hotpath binary carries).
type contender struct {
	Name   string
	Peer   string
	Server string // how it is started, for the report
	Spec   func(l *lab) launchSpec
	Seed   map[string]float64
}

// The seed's §1 figures: Go (net/http) against "Nginx + Python WSGI".
var (
	seedGo   = map[string]float64{"startup_rss_mb": 12, "p99_ms": 1.2, "ab_rps": 8000}
	seedWSGI = map[string]float64{"startup_rss_mb": 35, "p99_ms": 8.7, "conn_kb": 800 * 1024 / 10000.0}
)

// hotpathServe is `hotpath serve` on its defaults with engine, admin
// listener on adminPort, and a connection cap above the held connections.
func hotpathServe(engine string, env ...string) func(l *lab) launchSpec {
	return serveFrom("hotpath-"+engine, func(l *lab) string { return l.cfg.Binary }, engine, env...)
}

// serveFrom is hotpathServe with the binary bin returns and the row name
// name: the base rows start Config.Base with exactly the same arguments.
func serveFrom(name string, bin func(l *lab) string, engine string, env ...string) func(l *lab) launchSpec {
	return func(l *lab) launchSpec {
		// In the scratch directory: serve's default ingest sink writes
		// hotpath-data/ into its working directory.
		return launchSpec{Name: name, Admin: true, Env: env, Dir: l.tmp, Argv: func(port, admin int) []string {
			return []string{bin(l), "serve", "--engine", engine,
				"--addr", "127.0.0.1:" + strconv.Itoa(port), "--admin-addr", "127.0.0.1:" + strconv.Itoa(admin),
				"--max-connections", strconv.Itoa(2*l.conns + 1000)}
		}}
	}
}

// bareServer is the hidden `hotpath lab-server NAME`.
func bareServer(name string) func(l *lab) launchSpec {
	return func(l *lab) launchSpec {
		return launchSpec{Name: name, Argv: func(port, _ int) []string {
			return []string{l.cfg.Binary, "lab-server", name, "--addr", "127.0.0.1:" + strconv.Itoa(port)}
		}}
	}
}

var serverContenders = []contender{
	{Name: "hotpath-nethttp", Server: "hotpath serve --engine nethttp (defaults)", Spec: hotpathServe("nethttp"), Seed: seedGo},
	{Name: "hotpath-fasthttp", Server: "hotpath serve --engine fasthttp (defaults)", Spec: hotpathServe("fasthttp")},
	{Name: "hotpath-nbio", Server: "hotpath serve --engine nbio (defaults)", Spec: hotpathServe("nbio")},
	{Name: "nethttp", Server: "bare net/http, net/http's defaults (hotpath lab-server nethttp)", Spec: bareServer("nethttp"), Seed: seedGo},
	{Name: "nethttp-hardened", Server: "bare net/http with hotpath's default timeouts and 16 KiB header limit", Spec: bareServer("nethttp-hardened"), Seed: seedGo},
	{Name: "fasthttp", Server: "bare fasthttp, fasthttp's defaults", Spec: bareServer("fasthttp")},
	{Name: "fasthttp-hardened", Server: "bare fasthttp with hotpath's default timeouts and header limit", Spec: bareServer("fasthttp-hardened")},
	{Name: "nbio", Server: "bare nbio (nbhttp), nbio's defaults", Spec: bareServer("nbio")},
	{Name: "nginx", Peer: "nginx", Server: "nginx, 1 process (master off), return 200, access log off", Spec: func(l *lab) launchSpec {
		return launchSpec{Name: "nginx", Argv: func(port, _ int) []string {
			dir := l.tmpPath("nginx-" + strconv.Itoa(port))
			room := 1024
			if l.holding {
				room = 2 * l.conns
			}
			conf, err := writeNginxConf(dir, port, room)
			if err != nil {
				return []string{"false"} // fails to start; launch reports it
			}
			return []string{l.peers.path("nginx"), "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf}
		}}
	}},
	{Name: "gunicorn-flask", Peer: "gunicorn-flask", Seed: seedWSGI,
		Server: "gunicorn, " + strconv.Itoa(gunicornWorkers) + " sync workers ((2 × 1 core) + 1), Flask app", Spec: func(l *lab) launchSpec {
			return launchSpec{Name: "gunicorn-flask", Ready: 20 * time.Second, Env: []string{"PYTHONDONTWRITEBYTECODE=1"},
				Argv: func(port, _ int) []string {
					return []string{l.peers.path("gunicorn-flask"), "--chdir", l.tmp, "-w", strconv.Itoa(gunicornWorkers),
						"-k", "sync", "-b", "127.0.0.1:" + strconv.Itoa(port), "--log-level", "warning", "--backlog", "2048", "app:app"}
				}}
		}},
	{Name: "nodejs", Peer: "nodejs", Server: "Node.js http module, one process", Spec: func(l *lab) launchSpec {
		return launchSpec{Name: "nodejs", Argv: func(port, _ int) []string {
			return []string{l.peers.path("nodejs"), l.tmpPath("server.js"), strconv.Itoa(port)}
		}}
	}},
}

// rowData gathers one contender's figures over the rounds: metric → round →
// value.
type rowData struct {
	c      contender
	spec   launchSpec
	status string
	vals   map[string]map[int]float64
	errs   []string
	hist   []*report.Result // open-loop results, merged for the curve
	notes  []string
}

func (d *rowData) add(metric string, round int, v float64) {
	if d.vals[metric] == nil {
		d.vals[metric] = map[int]float64{}
	}
	d.vals[metric][round] = v
}

// series returns metric's values in round order.
func (d *rowData) series(metric string) []float64 {
	rounds := make([]int, 0, len(d.vals[metric]))
	for r := range d.vals[metric] {
		rounds = append(rounds, r)
	}
	slices.Sort(rounds)
	out := make([]float64, len(rounds))
	for i, r := range rounds {
		out[i] = d.vals[metric][r]
	}
	return out
}

// row turns the figures into the report's row: medians, spreads, rounds.
func (d *rowData) row() Row {
	r := Row{Name: d.c.Name, Status: d.status, Server: d.c.Server, Metrics: map[string]float64{},
		Spread: map[string]Spread{}, Rounds: map[string][]float64{}, Seed: d.c.Seed, Notes: d.notes}
	if r.Status == "" {
		r.Status = "ok"
	}
	if !r.OK() {
		r.Metrics, r.Spread, r.Rounds = map[string]float64{}, nil, nil
		return r
	}
	for m := range d.vals {
		s := d.series(m)
		r.Metrics[m] = round(Median(s), 3)
		if len(s) > 1 {
			sp := SpreadOf(s)
			r.Spread[m] = Spread{round(sp.Min, 3), round(sp.Max, 3)}
			r.Rounds[m] = roundAll(s, 3)
		}
	}
	if len(d.hist) > 0 {
		if merged, err := report.Merge(d.hist...); err == nil {
			r.Latency = curve(merged)
		}
	}
	r.Divergences = divergences(r)
	return r
}

func roundAll(xs []float64, d int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = round(x, d)
	}
	return out
}

// fail marks a round's failure; a row whose every attempt failed is
// "failed: <first error>".
func (d *rowData) fail(phase string, round int, err error) {
	d.errs = append(d.errs, fmt.Sprintf("%s round %d: %v", phase, round, err))
}

// timing returns the warm-up before each measured run.
func (l *lab) warmup() time.Duration {
	if l.cfg.Quick {
		return 200 * time.Millisecond
	}
	return time.Second
}

// latencyRun is the servers scenario's open-loop run: 60 % of the measured
// run, at least a second (3 s of the full run's 5 s: some 6,000 requests at
// the rates the slowest peers set, enough for a P99; the rest of the time
// goes to the CPU figure, the one that needs it).
func (l *lab) latencyRun() time.Duration {
	return max(l.cfg.Duration*3/5, min(l.cfg.Duration, time.Second))
}

// saturationConns is the closed loop's fixed connection count (the scripts'
// wrk -c64).
const saturationConns = 64

func (l *lab) runServers(ctx context.Context) Scenario {
	return l.runServersWith(ctx, l.serverRows())
}

// runServersWith runs the servers scenario over contenders.
func (l *lab) runServersWith(ctx context.Context, contenders []contender) Scenario {
	sc := Scenario{ID: Servers, Title: "Servers: GET /time on hotpath's engines, bare Go servers and real peers (seed §1)"}
	rs := newRowSet(contenders)
	for _, n := range rs.names {
		d := rs.byName[n]
		if p := d.c.Peer; p != "" && l.peers.path(p) == "" {
			d.status = l.peers.missing[p]
		} else {
			d.spec = d.c.Spec(l)
		}
	}
	byName := rs.byName
	rounds := l.cfg.Rounds
	connRounds := rounds
	if l.cfg.Quick {
		connRounds = 1
	}

	// Phase 1: saturation (closed loop, fixed connections), interleaved.
	l.measure(ctx, Servers, rs, rounds, "saturation", func(n string) string { return n + " at saturation" },
		func(d *rowData, round int) error { return l.saturate(ctx, d, round) })
	// The open-loop rate: half the slowest row's saturation rate, so that
	// every row serves it with room to spare.
	rate := math.Inf(1)
	for _, n := range rs.active() {
		if s := byName[n].series("rps"); len(s) > 0 {
			rate = min(rate, SpreadOf(s).Min/2)
		}
	}
	if math.IsInf(rate, 1) {
		rate = 0
	}
	rate = math.Max(math.Floor(rate/10)*10, 10)
	// Phase 2, on a fresh server per row and round: memory per idle
	// keep-alive connection (measured first, on a quiet server), then
	// latency at the fixed open-loop rate, then (first round) ab.
	l.measure(ctx, Servers, rs, connRounds, "idle connections and latency",
		func(n string) string {
			return fmt.Sprintf("%s: %d idle connections, then %.0f req/s", n, l.conns, rate)
		},
		func(d *rowData, round int) error { return l.quietRound(ctx, d, round, rate) })
	sc.Rows = rs.rows("rps")
	sc.Method = fmt.Sprintf("Each server pinned to CPU %d with GOMAXPROCS=1 (pinned: %v), hotpath bench pinned to CPU %d. "+
		"Saturation: closed loop, %d connections, %v after a %v warm-up, %d interleaved rounds, a fresh server each time; "+
		"CPU µs/request = server utime+stime (whole process group) over the run ÷ requests. "+
		"Start-up RSS: VmRSS right after the first answer; every Go row, the bare ones too, runs from the hotpath binary, "+
		"whose resident pages count in VmRSS, so RssAnon is the figure that compares across rows. Then, on a fresh server per row (%d round(s)): idle connections, RSS growth ÷ %d held "+
		"keep-alive connections; latency, open loop at %.0f req/s (half the slowest round of the slowest row at saturation) for %v, coordinated-omission corrected, "+
		"with %d connections; "+
		"ab: ab -n %d -c 500 (no keep-alive; the seed ran -n 10000, which --quick shortens).",
		serverCPU, l.pinned, loadCPU, saturationConns, l.cfg.Duration, l.warmup(), rounds, connRounds, l.conns, rate, l.latencyRun(), saturationConns, l.abRequests())
	sc.Ratios = serverRatios(byName)
	return sc
}

// saturate measures one round of d at saturation: start-up RSS, req/s and
// CPU per request.
func (l *lab) saturate(ctx context.Context, d *rowData, round int) error {
	s, err := l.launch(ctx, d.spec)
	if err != nil {
		return err
	}
	defer s.stop()
	mem, err := groupMemory(s.pgid)
	if err != nil {
		return err
	}
	d.add("startup_rss_mb", round, float64(mem.RSSKB)/1024)
	d.add("startup_anon_mb", round, float64(mem.AnonKB)/1024)
	if _, err := l.bench(ctx, s.URL(), benchRun{Connections: saturationConns, Duration: l.warmup()}); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	c0, err := groupCPU(s.pgid)
	if err != nil {
		return err
	}
	res, err := l.bench(ctx, s.URL(), benchRun{Connections: saturationConns, Duration: l.cfg.Duration})
	if err != nil {
		return err
	}
	c1, err := groupCPU(s.pgid)
	if err != nil {
		return err
	}
	if res.Successes == 0 {
		return fmt.Errorf("no successful response (%d errors)", res.Errors)
	}
	if res.Errors*100 > res.Requests {
		d.notes = append(d.notes, fmt.Sprintf("saturation round %d: %d of %d requests failed", round, res.Errors, res.Requests))
	}
	d.add("rps", round, res.RPS)
	d.add("cpu_us_per_req", round, float64((c1-c0).Microseconds())/float64(res.Requests))
	return nil
}

// quietRound measures, on a fresh server, the RSS one idle keep-alive
// connection adds; then, with those connections closed, the latency at rate
// requests per second; and in the first round runs ab.
func (l *lab) quietRound(ctx context.Context, d *rowData, round int, rate float64) error {
	l.holding = true
	s, err := l.launch(ctx, d.spec)
	l.holding = false
	if err != nil {
		return err
	}
	defer s.stop()
	settle := 250 * time.Millisecond
	if !l.cfg.Quick {
		settle = time.Second
	}
	if _, err := l.bench(ctx, s.URL(), benchRun{Connections: 1, Duration: 200 * time.Millisecond}); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	sleep(ctx, settle)
	before, err := groupMemory(s.pgid)
	if err != nil {
		return err
	}
	conns, err := holdConns(ctx, s.addr, l.conns, 128)
	switch {
	case errors.Is(err, errNoKeepAlive):
		d.notes = appendOnce(d.notes, "no idle keep-alive figure: "+err.Error())
	case err != nil:
		return err
	default:
		sleep(ctx, settle)
		after, err := groupMemory(s.pgid)
		closeConns(conns)
		if err != nil {
			return err
		}
		d.add("conn_kb", round, (float64(after.RSSKB)-float64(before.RSSKB))/float64(len(conns)))
	}

	res, err := l.bench(ctx, s.URL(), benchRun{Connections: saturationConns, Duration: l.latencyRun(), Warmup: min(l.warmup(), time.Second), Rate: rate})
	if err != nil {
		return err
	}
	if res.Successes == 0 {
		return fmt.Errorf("open loop: no successful response (%d errors)", res.Errors)
	}
	d.add("p50_ms", round, float64(res.Latency.P50)/1000)
	d.add("p99_ms", round, float64(res.Latency.P99)/1000)
	d.add("p999_ms", round, float64(res.Latency.P999)/1000)
	d.add("open_loop_rps", round, rate)
	d.hist = append(d.hist, res)

	if round != 1 || l.peers.path("ab") == "" {
		return nil
	}
	ab, err := l.ab(ctx, s.URL(), l.abRequests())
	if err != nil {
		d.notes = append(d.notes, "ab: "+err.Error())
		return nil
	}
	d.add("ab_rps", round, ab.RPS)
	d.add("ab_p99_ms", round, ab.P99Ms)
	if ab.Failed+ab.Non2xx > 0 {
		d.notes = append(d.notes, fmt.Sprintf("ab: %d failed and %d non-2xx of %d requests", ab.Failed, ab.Non2xx, l.abRequests()))
	}
	return nil
}

func appendOnce(xs []string, s string) []string {
	if slices.Contains(xs, s) {
		return xs
	}
	return append(xs, s)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ratioDef is one ratio of CPU per request: row a over row b.
type ratioDef struct {
	a, b, name, target string
	seed               float64
}

// serverRatios are the CPU-per-request ratios issue 16 and the seed ask for.
func serverRatios(rows map[string]*rowData) []Ratio {
	defs := []ratioDef{
		{"hotpath-nethttp", "nethttp-hardened", "hotpath nethttp / hardened net/http", "≤ 1.10", 0},
		{"hotpath-nethttp", "nethttp", "hotpath nethttp / plain net/http", "", 0},
		{"nethttp-hardened", "nethttp", "hardened / plain net/http (what the timeouts cost)", "", 0},
		{"hotpath-fasthttp", "nginx", "hotpath fasthttp / nginx", "≤ 1.00", 0},
		{"hotpath-fasthttp", "fasthttp-hardened", "hotpath fasthttp / hardened fasthttp", "", 0},
		{"fasthttp-hardened", "fasthttp", "hardened / plain fasthttp", "", 0},
		{"hotpath-nbio", "nbio", "hotpath nbio / bare nbio", "≤ 1.20", 0},
		{"hotpath-nethttp", "nodejs", "hotpath nethttp / Node.js", "", 0.6},
		{"hotpath-nethttp", "gunicorn-flask", "hotpath nethttp / gunicorn + Flask", "", 0.6},
		{"nethttp", "nodejs", "plain net/http / Node.js", "", 0.6},
		{"nethttp", "gunicorn-flask", "plain net/http / gunicorn + Flask", "", 0.6},
	}
	// The A/B against --base first (absent without it): what such a run
	// is for.
	var ab []ratioDef
	for _, e := range hotpathEngines {
		ab = append(ab, ratioDef{"hotpath-" + e, basePrefix + "hotpath-" + e, "hotpath-" + e + " / base", "", 0})
	}
	return cpuRatios(rows, append(ab, defs...))
}

// cpuRatios computes defs' ratios of CPU per request: the ratio of the
// medians, and the median of the per-round ratios over the rounds both rows
// measured. A ratio with a row that is absent or not ok is left out.
func cpuRatios(rows map[string]*rowData, defs []ratioDef) []Ratio {
	const metric = "cpu_us_per_req"
	var out []Ratio
	for _, d := range defs {
		ra, rb := rows[d.a], rows[d.b]
		if ra == nil || rb == nil || ra.status != "" || rb.status != "" {
			continue
		}
		v, per, ok := ratioOf(ra.series(metric), rb.series(metric))
		if !ok {
			continue
		}
		var a, b []float64
		for r, va := range ra.vals[metric] {
			if vb, ok := rb.vals[metric][r]; ok {
				a, b = append(a, va), append(b, vb)
			}
		}
		if _, p, ok := ratioOf(a, b); ok {
			per = p
		}
		out = append(out, Ratio{Name: d.name, A: d.a, B: d.b, Metric: metric,
			Value: round(v, 3), PerRoundMedian: round(per, 3), Target: d.target, Seed: d.seed})
	}
	return out
}

// curve is the latency percentile curve of a result's histogram: the points
// an HDR plot draws (percentiles 0 to 99.999 on a 1/(1−p) scale).
func curve(r *report.Result) []Point {
	lat, _, err := r.DecodeHistograms()
	if err != nil || lat.TotalCount() == 0 {
		return nil
	}
	var pts []Point
	for _, p := range []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999} {
		pts = append(pts, Point{Percentile: p, Ms: round(float64(lat.ValueAtPercentile(p))/1000, 3)})
	}
	pts = append(pts, Point{Percentile: 100, Ms: round(float64(lat.Max())/1000, 3)})
	return pts
}

// divergences explains, one sentence each, where a row's figure differs
// from the seed's by more than a quarter.
func divergences(r Row) []string {
	var out []string
	keys := make([]string, 0, len(r.Seed))
	for k := range r.Seed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		seed := r.Seed[k]
		ours, ok := r.Metrics[k]
		if !ok {
			continue
		}
		if ours == seed || (seed != 0 && math.Abs(ours-seed)/seed <= 0.25) {
			continue
		}
		dir := "higher"
		if ours < seed {
			dir = "lower"
		}
		out = append(out, fmt.Sprintf("%s: %s against the seed's %s (%s). %s", metricLabel(k), fmtNum(ours), fmtNum(seed), dir, why[k]))
	}
	return out
}

// why gives the reason each kind of figure differs from the seed's.
var why = map[string]string{
	"startup_rss_mb":   "Ours is VmRSS of all the server's processes right after its first answer, shared pages of the binary and libraries included (the Go rows run from the hotpath binary; see startup_anon_mb for the private part); the seed does not say how it measured.",
	"p99_ms":           "Ours is measured at a fixed open-loop rate every row sustains, on loopback, with the server pinned to one core and latency corrected for coordinated omission; the seed does not state its load or hardware.",
	"ab_rps":           "ab opens a new connection per request (no -k), so this prices connection set-up on loopback with one pinned server core and ab on the other; the seed's figure is from other hardware.",
	"conn_kb":          "Ours is the resident-memory growth per held idle keep-alive connection; the seed gives \"> 800 MB\" for 10,000 connections without its method.",
	"allocs_per_s":     "Allocations per second scale with the request rate this machine reaches; allocs_per_req is the rate-independent figure, and the seed's setup (10,000 connections, other hardware) differs.",
	"gc_pause_p99_ms":  "Pauses are the stop-the-world phases GODEBUG=gctrace=1 reports per cycle on this Go version; modern Go pauses are sub-millisecond, and the seed does not state its Go version.",
	"p95_ms":           "Ours is a closed loop of 50 calls in flight on loopback with the servers pinned to one core; the seed does not state its load, and its proxy ran on other hardware.",
	"alloc_kb_per_req": "Ours counts the Go heap allocated per request by every process of the row (the backend's counter, plus gwproxy's own for the proxy row); the seed does not say what it counted.",
	"gc_per_min":       "The seed's 3.2 full GCs/min comes from a Java/Netty example; Go has no separate full GC, every cycle is counted.",
}

func metricLabel(k string) string {
	if l, ok := metricLabels[k]; ok {
		return l
	}
	return k
}

var metricLabels = map[string]string{
	"rps": "req/s", "cpu_us_per_req": "CPU µs/request", "p50_ms": "P50 ms", "p99_ms": "P99 ms", "p999_ms": "P99.9 ms",
	"startup_rss_mb": "start-up RSS MB", "startup_anon_mb": "start-up RssAnon MB", "conn_kb": "KB per idle connection",
	"ab_rps": "ab req/s", "ab_p99_ms": "ab P99 ms", "open_loop_rps": "open-loop req/s",
	"allocs_per_s": "allocations/s", "allocs_per_req": "allocations/request", "gc_per_min": "GC cycles/min",
	"gc_pause_p99_ms": "GC pause P99 ms", "gc_pause_max_ms": "GC pause max ms",
	"p95_ms": "P95 ms", "alloc_kb_per_req": "allocated KB/request",
}

// fmtNum formats a figure with about three significant digits.
func fmtNum(f float64) string {
	a := math.Abs(f)
	switch {
	case a >= 1000:
		return strconv.FormatFloat(math.Round(f), 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(f, 'f', 2, 64)
	default:
		s := strings.TrimRight(strings.TrimRight(strconv.FormatFloat(f, 'f', 3, 64), "0"), ".")
		if s == "" || s == "-" {
			return "0"
		}
		return s
	}
}
