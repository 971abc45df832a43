package lab

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// measure visits the active rows in interleaved order and records failed
// rounds; rows turns a never-measured row into "failed: <first error>" and
// keeps a missing peer's status.
func TestRowSetMeasure(t *testing.T) {
	l := &lab{prog: newProgress(nil)}
	rs := newRowSet([]contender{{Name: "a"}, {Name: "b"}, {Name: "peer"}, {Name: "c"}})
	rs.byName["peer"].status = "not installed (x)"
	var order []string
	l.measure(context.Background(), "t", rs, 2, "phase", rowName, func(d *rowData, round int) error {
		order = append(order, d.c.Name)
		switch d.c.Name {
		case "b":
			return errors.New("boom")
		case "c":
			if round == 2 {
				return errors.New("late")
			}
		}
		d.add("rps", round, float64(round))
		return nil
	})
	if want := []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	rows := rs.rows("rps")
	got := map[string]Row{}
	for _, r := range rows {
		got[r.Name] = r
	}
	if len(rows) != 4 || rows[2].Name != "peer" {
		t.Fatalf("rows %v: want all four in contender order", rows)
	}
	for n, want := range map[string]string{"a": "ok", "b": "failed: phase round 1: boom", "peer": "not installed (x)", "c": "ok"} {
		if got[n].Status != want {
			t.Errorf("%s: status %q, want %q", n, got[n].Status, want)
		}
	}
	if !slices.Contains(got["c"].Notes, "phase round 2: late") {
		t.Errorf("c: notes %q lack the failed round", got["c"].Notes)
	}
	if got["c"].Metrics["rps"] != 1 {
		t.Errorf("c: rps %v, want the one measured round", got["c"].Metrics["rps"])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	l.measure(ctx, "t", newRowSet([]contender{{Name: "a"}}), 3, "p", rowName, func(*rowData, int) error { n++; return nil })
	if n != 0 {
		t.Errorf("measured %d rounds after ctx was done", n)
	}
}
