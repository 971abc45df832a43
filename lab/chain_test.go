package lab

import (
	"slices"
	"strings"
	"testing"
)

// The chain rows start serve with the flags the issue names: the 3-layer
// rows with auth on /ingest (GET /time stays open for the readiness probe)
// and the json transform; batch 1 and 16.
func TestChainServeArgs(t *testing.T) {
	l := &lab{cfg: Config{Binary: "hotpath"}}
	for _, r := range chainRows {
		argv := strings.Join(l.chainServe(r, "/d").Argv(1, 2), " ")
		for _, want := range []string{"serve", "--ingest-sink file:/d", "--batch-wait 5ms", "--batch-size " + map[int]string{1: "1", 16: "16"}[r.batch]} {
			if !strings.Contains(argv, want) {
				t.Errorf("%s: argv %q lacks %q", r.name, argv, want)
			}
		}
		three := strings.Contains(argv, "--auth-token "+chainToken) && strings.Contains(argv, "--auth-routes /ingest") &&
			strings.Contains(argv, "--ingest-format json")
		if three != (r.layers == 3) {
			t.Errorf("%s: argv %q; 3-layer flags present = %v", r.name, argv, three)
		}
	}
}

// chainGoals says met or NOT met from the medians, and nothing for rows
// that failed.
func TestChainGoals(t *testing.T) {
	row := func(vals map[string][]float64) *rowData {
		d := &rowData{vals: map[string]map[int]float64{}}
		for m, vs := range vals {
			for i, v := range vs {
				d.add(m, i+1, v)
			}
		}
		return d
	}
	rows := map[string]*rowData{
		"1-layer-fsync":  row(map[string][]float64{"rps": {1000, 1100, 900}, "p99_ms": {4, 4, 4}, "p99_goal_ms": {11, 11, 11}}),
		"1-layer-batch":  row(map[string][]float64{"rps": {9000, 8000, 8500}, "p99_ms": {9, 12, 10}, "p99_goal_ms": {11, 11, 11}}),
		"3-layers-fsync": row(map[string][]float64{"rps": {1000}}),
		"3-layers-batch": row(map[string][]float64{"rps": {7000}, "p99_ms": {20}, "p99_goal_ms": {11}}),
	}
	got := chainGoals(rows)
	for _, want := range []string{
		"Goal, 1-layer: batch stage / fsync per event = 8.5× the throughput (goal ≥ 8×): met.",
		"Goal, 3-layers: batch stage / fsync per event = 7.0× the throughput (goal ≥ 8×): NOT met.",
		"Goal, 1-layer-fsync: P99 at 50% of capacity 4.00 ms, bound 2 × 5ms + one fsync = 11.00 ms: met.",
		"Goal, 1-layer-batch: P99 at 50% of capacity 10.00 ms, bound 2 × 5ms + one fsync = 11.00 ms: met.",
		"Goal, 3-layers-batch: P99 at 50% of capacity 20.00 ms, bound 2 × 5ms + one fsync = 11.00 ms: NOT met.",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no goal line %q in\n%s", want, strings.Join(got, "\n"))
		}
	}
	rows["1-layer-batch"].status = "failed: x"
	for _, g := range chainGoals(rows) {
		if strings.Contains(g, "1-layer:") || strings.Contains(g, "1-layer-batch") {
			t.Errorf("goal from a failed row: %s", g)
		}
	}
}
