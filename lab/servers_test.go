package lab

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/report"
)

// TestMissingPeerRow: a contender whose peer is not found is a "not
// installed" row with no figure, and nothing is started for it.
func TestMissingPeerRow(t *testing.T) {
	l := &lab{cfg: Config{Rounds: 2}.withDefaults(), prog: newProgress(nil), conns: 10,
		peers: discoverPeers(context.Background(), "auto", func(string) (string, error) { return "", errors.New("no") })}
	started := false
	c := contender{Name: "nginx", Peer: "nginx", Spec: func(*lab) launchSpec { started = true; return launchSpec{} }}
	sc := l.runServersWith(context.Background(), []contender{c})
	if started {
		t.Fatal("a missing peer was started")
	}
	if len(sc.Rows) != 1 {
		t.Fatalf("rows %+v", sc.Rows)
	}
	r := sc.Rows[0]
	if r.Status != "not installed (`apt-get install nginx`)" || len(r.Metrics) != 0 {
		t.Fatalf("row %+v, want not installed with no figure", r)
	}
	if len(sc.Ratios) != 0 {
		t.Fatal("a ratio against a missing row")
	}
}

// TestServerRatios: ratios use only rounds both rows measured, and skip
// rows that are not ok.
func TestServerRatios(t *testing.T) {
	mk := func(name string, cpu map[int]float64) *rowData {
		return &rowData{c: contender{Name: name}, vals: map[string]map[int]float64{"cpu_us_per_req": cpu}}
	}
	rows := map[string]*rowData{
		"hotpath-nethttp":  mk("hotpath-nethttp", map[int]float64{1: 22, 2: 44, 3: 22}),
		"nethttp-hardened": mk("nethttp-hardened", map[int]float64{1: 20, 2: 40}), // round 3 failed
		"nethttp":          mk("nethttp", map[int]float64{1: 10}),
		"nodejs":           {c: contender{Name: "nodejs"}, status: "not installed (`apt-get install nodejs`)"},
	}
	got := map[string]Ratio{}
	for _, r := range serverRatios(rows) {
		got[r.A+"/"+r.B] = r
	}
	r, ok := got["hotpath-nethttp/nethttp-hardened"]
	if !ok || math.Abs(r.PerRoundMedian-1.1) > 1e-9 || r.Target != "≤ 1.10" {
		t.Fatalf("hotpath/hardened = %+v, want per-round 1.1 over rounds 1 and 2", r)
	}
	if _, ok := got["hotpath-nethttp/nodejs"]; ok {
		t.Fatal("a ratio against a row that is not installed")
	}
	if r := got["nethttp-hardened/nethttp"]; r.Value != 3 || !strings.Contains(r.Name, "timeouts") {
		t.Fatalf("hardened/plain = %+v", r)
	}
}

func TestCurve(t *testing.T) {
	if curve(&report.Result{}) != nil {
		t.Fatal("an empty histogram gave a curve")
	}
}
