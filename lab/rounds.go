package lab

import "context"

// rowSet is one scenario's rows, in report order: every scenario measures
// its rows the same way (interleaved rounds, a fresh server each time) and
// reports them the same way (medians; a row never measured is "failed").
type rowSet struct {
	names  []string
	byName map[string]*rowData
}

// newRowSet makes a row for each contender.
func newRowSet(cs []contender) *rowSet {
	rs := &rowSet{byName: map[string]*rowData{}}
	for _, c := range cs {
		rs.names = append(rs.names, c.Name)
		rs.byName[c.Name] = &rowData{c: c, vals: map[string]map[int]float64{}}
	}
	return rs
}

// active returns the rows to measure: those without a status (a missing
// peer's row has one).
func (rs *rowSet) active() []string {
	var out []string
	for _, n := range rs.names {
		if rs.byName[n].status == "" {
			out = append(out, n)
		}
	}
	return out
}

// measure runs f for every active row over rounds interleaved rounds
// (Interleave's order), one progress step each, labelled by what; a round
// that fails is recorded against its row under phase. It stops early when
// ctx is done.
func (l *lab) measure(ctx context.Context, scenario string, rs *rowSet, rounds int, phase string,
	what func(name string) string, f func(d *rowData, round int) error) {
	for _, st := range Interleave(rs.active(), rounds) {
		if ctx.Err() != nil {
			return
		}
		l.prog.step(scenario, st.Round, rounds, what(st.Name))
		d := rs.byName[st.Name]
		if err := f(d, st.Round); err != nil {
			d.fail(phase, st.Round, err)
		}
	}
}

// rows returns the report's rows. A row with a status keeps it; a row with
// no value of metric in any round is "failed: " and its first error (or "no
// measurement"); every round's error becomes a note.
func (rs *rowSet) rows(metric string) []Row {
	out := make([]Row, 0, len(rs.names))
	for _, n := range rs.names {
		d := rs.byName[n]
		if d.status == "" && len(d.vals[metric]) == 0 {
			msg := "no measurement"
			if len(d.errs) > 0 {
				msg = d.errs[0]
			}
			d.status = "failed: " + msg
		}
		d.notes = append(d.notes, d.errs...)
		out = append(out, d.row())
	}
	return out
}

// rowName is the progress label of a row that needs no more than its name.
func rowName(n string) string { return n }
