package lab

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/internal/bare"
)

func TestParseAllocsLine(t *testing.T) {
	for _, tt := range []struct {
		line string
		want float64
		ok   bool
	}{
		{"allocs 1234 567890", 567890, true},
		{"grpc-gateway proxy on 127.0.0.1:1 -> 127.0.0.1:2 (pid 9)", 0, false},
		{"listening on 127.0.0.1:1", 0, false}, // lab-server's first line
		{"allocs 1 x", 0, false},
		{"allocs 1", 0, false},
	} {
		v, ok := parseAllocsLine([]byte(tt.line))
		if v != tt.want || ok != tt.ok {
			t.Errorf("parseAllocsLine(%q) = %v, %v; want %v, %v", tt.line, v, ok, tt.want, tt.ok)
		}
	}
}

// TestGatewayWithoutProxy: without gwproxy on PATH the proxy row says how
// to build it and carries no figure; the other rows, bare grpc-go first,
// are still planned.
func TestGatewayWithoutProxy(t *testing.T) {
	l := &lab{cfg: Config{Rounds: 1}.withDefaults(), prog: newProgress(nil),
		peers: discoverPeers(context.Background(), "auto", func(string) (string, error) { return "", errors.New("no") })}
	if got := l.steps(Gateway); got != 3*l.cfg.Rounds {
		t.Fatalf("steps(gateway) = %d, want the three rows that need no peer (grpc-go, grpc-native, hotpath-transcoding)", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing is started: only the row statuses are checked
	sc := l.runGateway(ctx)
	var proxy Row
	for _, r := range sc.Rows {
		if r.Name == "grpc-gateway-proxy" {
			proxy = r
		}
	}
	if !strings.HasPrefix(proxy.Status, "not installed (`go build -o /usr/local/bin/gwproxy ./internal/cmd/gwproxy`") || len(proxy.Metrics) != 0 {
		t.Fatalf("proxy row %+v", proxy)
	}
	if len(sc.Rows) != len(gatewayRows) {
		t.Fatalf("%d rows, want %d", len(sc.Rows), len(gatewayRows))
	}
	if first := sc.Rows[0]; first.Name != "grpc-go" || !strings.Contains(first.Server, "grpc.NewServer(), no interceptors (hotpath lab-server grpc-go)") {
		t.Fatalf("first row %q (%q), want the bare grpc-go baseline", first.Name, first.Server)
	}
	if !strings.Contains(sc.Method, "portmux") || strings.Contains(sc.Method, "scripts/") {
		t.Errorf("method does not say how hotpath serves gRPC in its own words: %q", sc.Method)
	}
}

// TestGatewayRowsMeasureAlike: the bare row makes the same call as
// grpc-native (native gRPC), differs only in the server it starts, and
// that server is a lab-server whose readiness is a gRPC call.
func TestGatewayRowsMeasureAlike(t *testing.T) {
	byName := map[string]gatewayRow{}
	for _, r := range gatewayRows {
		byName[r.name] = r
	}
	g, n := byName["grpc-go"], byName["grpc-native"]
	if !g.bare || !g.grpc || g.proxy || n.bare || !n.grpc {
		t.Fatalf("grpc-go %+v, grpc-native %+v: want the same gRPC call, bare server only on grpc-go", g, n)
	}
	l := &lab{cfg: Config{Binary: "/bin/hotpath"}.withDefaults()}
	spec := bareGRPC(nil)(l)
	want := []string{"/bin/hotpath", "lab-server", "grpc-go", "--addr", "127.0.0.1:1234"}
	if got := spec.Argv(1234, 5678); !slices.Equal(got, want) {
		t.Errorf("argv %q, want %q", got, want)
	}
	if spec.Probe == nil || spec.Admin {
		t.Errorf("spec %+v: want a gRPC readiness probe and no admin listener", spec)
	}
	if !bare.Known("grpc-go") {
		t.Error("lab-server does not know grpc-go")
	}
}

// TestGatewayRatios: hotpath's gRPC over bare grpc-go comes first with
// issue 16's target; per-round medians pair only rounds both rows measured;
// a row that is not ok gives no ratio.
func TestGatewayRatios(t *testing.T) {
	mk := func(cpu map[int]float64, status string) *rowData {
		return &rowData{status: status, vals: map[string]map[int]float64{"cpu_us_per_req": cpu}}
	}
	tests := []struct {
		name      string
		rows      map[string]*rowData
		want      []string // ratio names, in order
		value     float64  // of the first
		per       float64  // its per-round median
		firstGoal string
	}{
		{
			name: "all rows",
			rows: map[string]*rowData{
				"grpc-go":             mk(map[int]float64{1: 10, 2: 20}, ""),
				"grpc-native":         mk(map[int]float64{1: 11, 2: 24}, ""),
				"hotpath-transcoding": mk(map[int]float64{1: 22, 2: 22}, ""),
				"grpc-gateway-proxy":  mk(map[int]float64{1: 88, 2: 88}, ""),
			},
			want:  []string{"hotpath gRPC / bare grpc-go", "in-process JSON transcoding / native gRPC", "grpc-gateway proxy / in-process transcoding"},
			value: 17.5 / 15, per: (1.1 + 1.2) / 2, firstGoal: "≤ 1.10",
		},
		{
			name: "bare round 2 failed",
			rows: map[string]*rowData{
				"grpc-go":     mk(map[int]float64{1: 10}, ""),
				"grpc-native": mk(map[int]float64{1: 12, 2: 30}, ""),
			},
			want:  []string{"hotpath gRPC / bare grpc-go"},
			value: 21.0 / 10, per: 1.2, firstGoal: "≤ 1.10",
		},
		{
			name: "bare row failed",
			rows: map[string]*rowData{
				"grpc-go":             mk(nil, "failed: no measurement"),
				"grpc-native":         mk(map[int]float64{1: 11}, ""),
				"hotpath-transcoding": mk(map[int]float64{1: 22}, ""),
				"grpc-gateway-proxy":  mk(nil, "not installed (…)"),
			},
			want:  []string{"in-process JSON transcoding / native gRPC"},
			value: 2, per: 2, firstGoal: "≤ 1.30",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gatewayRatios(tt.rows)
			var names []string
			for _, r := range got {
				names = append(names, r.Name)
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("ratios %q, want %q", names, tt.want)
			}
			r := got[0]
			if math.Abs(r.Value-round(tt.value, 3)) > 1e-9 || math.Abs(r.PerRoundMedian-round(tt.per, 3)) > 1e-9 ||
				r.Target != tt.firstGoal || r.Metric != "cpu_us_per_req" {
				t.Errorf("first ratio %+v, want value %.3f, per-round %.3f, target %q", r, tt.value, tt.per, tt.firstGoal)
			}
		})
	}
}

// TestGRPCNowProbe: the readiness probe succeeds on a gRPC server that
// answers Now, and fails on a closed port and on an HTTP/1.1-only server.
func TestGRPCNowProbe(t *testing.T) {
	serve, err := bare.Lookup("grpc-go")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	h1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer h1.Close()

	tests := []struct {
		name, addr string
		ok         bool
	}{
		{"bare grpc-go", ln.Addr().String(), true},
		{"closed port", closedAddr, false},
		{"HTTP/1.1 server", h1.Listener.Addr().String(), false},
	}
	for _, tt := range tests {
		pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := grpcNowProbe(pctx, tt.addr)
		pcancel()
		if (err == nil) != tt.ok {
			t.Errorf("%s: probe error %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestLaunchUsesProbe: a spec with a Probe is ready when the probe says so,
// at the server's address, and no HTTP request is made; a probe that never
// succeeds fails the start within its bound.
func TestLaunchUsesProbe(t *testing.T) {
	tests := []struct {
		name    string
		succeed int32 // the call that first succeeds; 0: never
		wantErr string
	}{
		{"ready on the third probe", 3, ""},
		{"never ready", 0, "did not answer within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &lab{cfg: Config{Binary: "x"}.withDefaults()}
			var calls atomic.Int32
			var addr atomic.Value
			spec := launchSpec{Name: "sleeper", Ready: 500 * time.Millisecond,
				Argv: func(int, int) []string { return []string{"sleep", "30"} },
				Probe: func(_ context.Context, a string) error {
					addr.Store(a)
					if n := calls.Add(1); tt.succeed == 0 || n < tt.succeed {
						return errors.New("not yet")
					}
					return nil
				}}
			s, err := l.launchOnce(context.Background(), spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("launch error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.stop()
			if calls.Load() != tt.succeed || addr.Load() != s.addr {
				t.Errorf("%d probe calls at %v, want %d at %s", calls.Load(), addr.Load(), tt.succeed, s.addr)
			}
		})
	}
}

// FuzzParseAllocsLine: any line is either refused or read as the third
// field of an "allocs M B" line, without panicking.
func FuzzParseAllocsLine(f *testing.F) {
	for _, s := range []string{"allocs 1234 567890", "allocs 1 x", "allocs", "listening on 127.0.0.1:1", "allocs 1 18446744073709551615", "allocs  1\t2 "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseAllocsLine(b)
		if !ok {
			if v != 0 {
				t.Fatalf("refused %q with value %v", b, v)
			}
			return
		}
		fs := strings.Fields(string(b))
		if len(fs) != 3 || fs[0] != "allocs" || v < 0 {
			t.Fatalf("accepted %q as %v", b, v)
		}
	})
}
