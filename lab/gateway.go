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
// (ghz's default, which the retired scripts/grpc-cost.sh used) — 50 streams on one
// connection for gRPC, 50 HTTP/1.1 connections for JSON.
const gatewayConc = 50

// gatewayRow is one row of the gateway scenario.
type gatewayRow struct {
	name  string
	bare  bool // the bare grpc-go server (lab-server grpc-go), not hotpath serve
	proxy bool // grpc-gateway as a proxy process in front of the backend
	grpc  bool // native gRPC Now; else GET /v1/time
	seed  map[string]float64
}

var gatewayRows = []gatewayRow{
	{name: "grpc-go", bare: true, grpc: true},
	{name: "grpc-native", grpc: true, seed: seedGRPC},
	{name: "hotpath-transcoding"},
	{name: "grpc-gateway-proxy", proxy: true, seed: seedGateway},
}

// server describes what row r runs, for the report.
func (r gatewayRow) server() string {
	const hp = "hotpath serve (defaults: nethttp engine, gRPC and the JSON gateway on the public port)"
	switch {
	case r.bare:
		return "bare grpc-go: grpc.NewServer(), no interceptors (hotpath lab-server grpc-go); hotpath.v1.TimeService/Now over gRPC"
	case r.grpc:
		return hp + "; hotpath.v1.TimeService/Now over gRPC"
	case r.proxy:
		return "gwproxy (grpc-gateway, a separate process) → " + hp + "; GET /v1/time on the proxy"
	default:
		return hp + "; GET /v1/time, transcoded in process"
	}
}

// bareGRPC is the bare grpc-go server: gRPC only, so its readiness is a
// Now call.
func bareGRPC(onLine func([]byte)) func(l *lab) launchSpec {
	return func(l *lab) launchSpec {
		spec := bareServer("grpc-go")(l)
		spec.Probe, spec.OnLine = grpcNowProbe, onLine
		return spec
	}
}

func (l *lab) runGateway(ctx context.Context) Scenario {
	sc := Scenario{ID: Gateway, Title: "bare grpc-go vs hotpath gRPC vs in-process JSON transcoding vs grpc-gateway proxy (seed §4.4)"}
	rounds := l.cfg.Rounds
	rowOf := map[string]gatewayRow{}
	var cs []contender
	for _, r := range gatewayRows {
		cs = append(cs, contender{Name: r.name, Server: r.server(), Seed: r.seed})
		rowOf[r.name] = r
	}
	rs := newRowSet(cs)
	if l.peers.path("grpc-gateway") == "" {
		for _, r := range gatewayRows {
			if r.proxy {
				rs.byName[r.name].status = l.peers.missing["grpc-gateway"]
			}
		}
	}
	byName := rs.byName
	l.measure(ctx, Gateway, rs, rounds, "gateway", rowName,
		func(d *rowData, round int) error { return l.gatewayRound(ctx, rowOf[d.c.Name], d, round) })
	sc.Rows = rs.rows("rps")
	sc.Method = fmt.Sprintf("Servers pinned to CPU %d with GOMAXPROCS=1 (pinned: %v; the proxy row's two processes share it), "+
		"hotpath bench on CPU %d: closed loop, %d calls in flight (gRPC: 50 streams on 1 connection; JSON: 50 HTTP/1.1 connections), "+
		"%v after a %v warm-up, %d interleaved rounds, fresh processes each time. CPU µs/request: all the row's processes. "+
		"Allocated KB/request: growth of go_memstats_alloc_bytes_total on hotpath serve's admin /metrics, or of the process's "+
		"runtime.MemStats.TotalAlloc (printed on SIGUSR1) for the bare grpc-go server, which has no admin listener, plus, for the proxy row, "+
		"gwproxy's TotalAlloc the same way, ÷ requests. P95 from the run's HDR histogram. "+
		"grpc-go and grpc-native make the same call with the same client; hotpath serve runs its default nethttp engine, "+
		"but the engine never sees these calls: portmux hands each connection whose first request is gRPC to grpc-go's own transport "+
		"(hotpath bench's grpc-go client sends its first call as soon as it has the server's SETTINGS, inside portmux's 20 ms wait, "+
		"so the fallback for clients that wait does not apply), "+
		"so what separates the two rows is portmux (sniffing, flood guard, connection cap) and hotpath's gRPC server "+
		"(interceptors, metrics, limits, stream workers), not the HTTP engine.",
		serverCPU, l.pinned, loadCPU, gatewayConc, l.cfg.Duration, l.warmup(), rounds)
	sc.Ratios = gatewayRatios(byName)
	return sc
}

// gatewayRatios compares the rows' median CPU per request: hotpath's
// gRPC against bare grpc-go (issue 16's target), JSON transcoding against
// native gRPC, and the proxy against in-process transcoding. The per-round
// median pairs only rounds both rows measured; a ratio with a row that is
// not ok is left out.
func gatewayRatios(byName map[string]*rowData) []Ratio {
	return cpuRatios(byName, []ratioDef{
		{"grpc-native", "grpc-go", "hotpath gRPC / bare grpc-go", "≤ 1.10", 0},
		{"hotpath-transcoding", "grpc-native", "in-process JSON transcoding / native gRPC", "≤ 1.30", 0},
		{"grpc-gateway-proxy", "hotpath-transcoding", "grpc-gateway proxy / in-process transcoding", "", 0},
	})
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

// next asks pid for its allocation line (SIGUSR1) and waits for it (5 s at
// most); name is the process's, for the error.
func (a *allocLog) next(pid int, name string) (float64, error) {
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
	return 0, fmt.Errorf("%s did not report its allocations within 5 s", name)
}

// gatewayRound measures one round of one row.
func (l *lab) gatewayRound(ctx context.Context, r gatewayRow, d *rowData, round int) error {
	var backendAllocs, proxyAllocs allocLog
	spec := hotpathServe("nethttp")(l)
	if r.bare {
		spec = bareGRPC(backendAllocs.line)(l)
	}
	backend, err := l.launch(ctx, spec)
	if err != nil {
		return err
	}
	defer backend.stop()
	target := "http://" + backend.addr + "/v1/time"
	groups := []int{backend.pgid}
	// allocated returns the cumulative bytes allocated by each process of
	// the row (their sum).
	allocated := []func() (float64, error){func() (float64, error) {
		if r.bare {
			return backendAllocs.next(backend.pgid, backend.name)
		}
		return scrapeCounter(ctx, backend.admin, "go_memstats_alloc_bytes_total")
	}}
	if r.proxy {
		proxy, err := l.launch(ctx, launchSpec{Name: "gwproxy", ReadyPath: "/v1/time", OnLine: proxyAllocs.line,
			Argv: func(port, _ int) []string {
				return []string{l.peers.path("grpc-gateway"), "-addr", "127.0.0.1:" + strconv.Itoa(port), "-backend", backend.addr}
			}})
		if err != nil {
			return err
		}
		defer proxy.stop()
		target = "http://" + proxy.addr + "/v1/time"
		groups = append(groups, proxy.pgid)
		allocated = append(allocated, func() (float64, error) { return proxyAllocs.next(proxy.pgid, proxy.name) })
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
	alloc := func() (float64, error) {
		var sum float64
		for _, f := range allocated {
			v, err := f()
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}
	a0, err := alloc()
	if err != nil {
		return err
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
	a1, err := alloc()
	if err != nil {
		return err
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
	d.add("alloc_kb_per_req", round, (a1-a0)/n/1024)
	d.hist = append(d.hist, res)
	return nil
}
