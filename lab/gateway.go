package lab

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hotpath-dev/hotpath/report"
)

// The seed's §4.4 figures: native gRPC against grpc-gateway in front of it.
var (
	seedGRPC    = map[string]float64{"p95_ms": 8.2, "alloc_kb_per_req": 1.3}
	seedGateway = map[string]float64{"p95_ms": 24.7, "alloc_kb_per_req": 9.6}
)

// gatewayConc is the concurrency of every gateway row: 50 calls in flight
// (ghz's default, which scripts/grpc-cost.sh used) — 50 streams on one
// connection for gRPC, 50 HTTP/1.1 connections for JSON.
const gatewayConc = 50

// gatewayRow is one row of the gateway scenario.
type gatewayRow struct {
	name  string
	proxy bool // grpc-gateway as a proxy process in front of the backend
	grpc  bool // native gRPC Now; else GET /v1/time
	seed  map[string]float64
}

var gatewayRows = []gatewayRow{
	{name: "grpc-native", grpc: true, seed: seedGRPC},
	{name: "hotpath-transcoding"},
	{name: "grpc-gateway-proxy", proxy: true, seed: seedGateway},
}

func (l *lab) runGateway(ctx context.Context) Scenario {
	sc := Scenario{ID: Gateway, Title: "gRPC vs in-process JSON transcoding vs grpc-gateway proxy (seed §4.4)"}
	rounds := l.cfg.Rounds
	byName := map[string]*rowData{}
	rowOf := map[string]gatewayRow{}
	var names []string
	for _, r := range gatewayRows {
		server := "hotpath serve (defaults: nethttp engine, gRPC and the JSON gateway on the public port)"
		switch {
		case r.grpc:
			server += "; hotpath.v1.TimeService/Now over gRPC"
		case r.proxy:
			server = "gwproxy (grpc-gateway, a separate process) → " + server + "; GET /v1/time on the proxy"
		default:
			server += "; GET /v1/time, transcoded in process"
		}
		d := &rowData{c: contender{Name: r.name, Server: server, Seed: r.seed}, vals: map[string]map[int]float64{}}
		byName[r.name], rowOf[r.name] = d, r
		if r.proxy && l.peers.path("grpc-gateway") == "" {
			d.status = l.peers.missing["grpc-gateway"]
			continue
		}
		names = append(names, r.name)
	}
	for _, st := range Interleave(names, rounds) {
		if ctx.Err() != nil {
			break
		}
		l.prog.step(Gateway, st.Round, rounds, st.Name)
		d := byName[st.Name]
		if err := l.gatewayRound(ctx, rowOf[st.Name], d, st.Round); err != nil {
			d.fail("gateway", st.Round, err)
		}
	}
	for _, r := range gatewayRows {
		d := byName[r.name]
		if d.status == "" && len(d.vals["rps"]) == 0 {
			msg := "no measurement"
			if len(d.errs) > 0 {
				msg = d.errs[0]
			}
			d.status = "failed: " + msg
		}
		d.notes = append(d.notes, d.errs...)
		sc.Rows = append(sc.Rows, d.row())
	}
	sc.Method = fmt.Sprintf("Servers pinned to CPU %d with GOMAXPROCS=1 (pinned: %v; the proxy row's two processes share it, as in scripts/grpc-cost.sh), "+
		"hotpath bench on CPU %d: closed loop, %d calls in flight (gRPC: 50 streams on 1 connection; JSON: 50 HTTP/1.1 connections), "+
		"%v after a %v warm-up, %d interleaved rounds, fresh processes each time. CPU µs/request: all the row's processes. "+
		"Allocated KB/request: growth of go_memstats_alloc_bytes_total on the backend's admin /metrics, plus, for the proxy row, "+
		"gwproxy's own cumulative allocation (runtime.MemStats.TotalAlloc, printed on SIGUSR1), ÷ requests. "+
		"P95 from the run's HDR histogram.",
		serverCPU, l.pinned, loadCPU, gatewayConc, l.cfg.Duration, l.warmup(), rounds)
	if v, per, ok := ratioOf(byName["hotpath-transcoding"].series("cpu_us_per_req"), byName["grpc-native"].series("cpu_us_per_req")); ok {
		sc.Ratios = append(sc.Ratios, Ratio{Name: "in-process JSON transcoding / native gRPC", A: "hotpath-transcoding", B: "grpc-native",
			Metric: "cpu_us_per_req", Value: round(v, 3), PerRoundMedian: round(per, 3), Target: "≤ 1.30"})
	}
	if v, per, ok := ratioOf(byName["grpc-gateway-proxy"].series("cpu_us_per_req"), byName["hotpath-transcoding"].series("cpu_us_per_req")); ok {
		sc.Ratios = append(sc.Ratios, Ratio{Name: "grpc-gateway proxy / in-process transcoding", A: "grpc-gateway-proxy", B: "hotpath-transcoding",
			Metric: "cpu_us_per_req", Value: round(v, 3), PerRoundMedian: round(per, 3)})
	}
	return sc
}

// allocLog collects gwproxy's "allocs <mallocs> <bytes>" lines.
type allocLog struct {
	mu    sync.Mutex
	bytes []float64
}

func (a *allocLog) line(b []byte) {
	if v, ok := parseAllocsLine(b); ok {
		a.mu.Lock()
		a.bytes = append(a.bytes, v)
		a.mu.Unlock()
	}
}

// parseAllocsLine reads the cumulative bytes of an "allocs M B" line.
func parseAllocsLine(b []byte) (float64, bool) {
	f := bytes.Fields(b)
	if len(f) != 3 || string(f[0]) != "allocs" {
		return 0, false
	}
	v, err := strconv.ParseUint(string(f[2]), 10, 64)
	if err != nil {
		return 0, false
	}
	return float64(v), true
}

// next asks pid for its allocation line (SIGUSR1) and waits for it.
func (a *allocLog) next(pid int) (float64, error) {
	a.mu.Lock()
	n := len(a.bytes)
	a.mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		a.mu.Lock()
		if len(a.bytes) > n {
			v := a.bytes[len(a.bytes)-1]
			a.mu.Unlock()
			return v, nil
		}
		a.mu.Unlock()
	}
	return 0, fmt.Errorf("gwproxy did not report its allocations")
}

// gatewayRound measures one round of one row.
func (l *lab) gatewayRound(ctx context.Context, r gatewayRow, d *rowData, round int) error {
	backend, err := l.launch(ctx, hotpathServe("nethttp")(l))
	if err != nil {
		return err
	}
	defer backend.stop()
	target := "http://" + backend.addr + "/v1/time"
	groups := []int{backend.pgid}
	var proxy *server
	var allocs allocLog
	if r.proxy {
		proxy, err = l.launch(ctx, launchSpec{Name: "gwproxy", ReadyPath: "/v1/time", OnLine: allocs.line,
			Argv: func(port, _ int) []string {
				return []string{l.peers.path("grpc-gateway"), "-addr", "127.0.0.1:" + strconv.Itoa(port), "-backend", backend.addr}
			}})
		if err != nil {
			return err
		}
		defer proxy.stop()
		target = "http://" + proxy.addr + "/v1/time"
		groups = append(groups, proxy.pgid)
	}
	run := func(dur time.Duration) (*report.Result, error) {
		b := benchRun{Connections: gatewayConc, Duration: dur}
		if r.grpc {
			b.Connections = 1
			return l.benchWith(ctx, "http://"+backend.addr, b, []string{"--grpc", "--call", "hotpath.v1.TimeService/Now", "--streams", strconv.Itoa(gatewayConc)})
		}
		return l.bench(ctx, target, b)
	}
	if _, err := run(l.warmup()); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	cpu := func() (time.Duration, error) {
		var sum time.Duration
		for _, g := range groups {
			c, err := groupCPU(g)
			if err != nil {
				return 0, err
			}
			sum += c
		}
		return sum, nil
	}
	a0, err := scrapeCounter(ctx, backend.admin, "go_memstats_alloc_bytes_total")
	if err != nil {
		return err
	}
	var p0, p1 float64
	if proxy != nil {
		if p0, err = allocs.next(proxy.pgid); err != nil {
			return err
		}
	}
	c0, err := cpu()
	if err != nil {
		return err
	}
	res, err := run(l.cfg.Duration)
	if err != nil {
		return err
	}
	c1, err := cpu()
	if err != nil {
		return err
	}
	a1, err := scrapeCounter(ctx, backend.admin, "go_memstats_alloc_bytes_total")
	if err != nil {
		return err
	}
	if proxy != nil {
		if p1, err = allocs.next(proxy.pgid); err != nil {
			return err
		}
	}
	if res.Successes == 0 {
		return fmt.Errorf("no successful response (%d errors)", res.Errors)
	}
	lat, _, err := res.DecodeHistograms()
	if err != nil {
		return err
	}
	n := float64(res.Requests)
	d.add("rps", round, res.RPS)
	d.add("cpu_us_per_req", round, float64((c1-c0).Microseconds())/n)
	d.add("p50_ms", round, float64(res.Latency.P50)/1000)
	d.add("p95_ms", round, float64(lat.ValueAtPercentile(95))/1000)
	d.add("p99_ms", round, float64(res.Latency.P99)/1000)
	d.add("alloc_kb_per_req", round, ((a1-a0)+(p1-p0))/n/1024)
	d.hist = append(d.hist, res)
	return nil
}
