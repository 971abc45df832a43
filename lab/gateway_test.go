package lab

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseAllocsLine(t *testing.T) {
	for _, tt := range []struct {
		line string
		want float64
		ok   bool
	}{
		{"allocs 1234 567890", 567890, true},
		{"grpc-gateway proxy on 127.0.0.1:1 -> 127.0.0.1:2 (pid 9)", 0, false},
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
// to build it and carries no figure; the other rows are still planned.
func TestGatewayWithoutProxy(t *testing.T) {
	l := &lab{cfg: Config{Rounds: 1}.withDefaults(), prog: newProgress(nil),
		peers: discoverPeers(context.Background(), "auto", func(string) (string, error) { return "", errors.New("no") })}
	if got := l.steps(Gateway); got != 2*l.cfg.Rounds {
		t.Fatalf("steps(gateway) = %d, want the two rows hotpath serves alone", got)
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
}
