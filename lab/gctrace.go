package lab

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// gcCycle is one line of the Go runtime's GODEBUG=gctrace=1 output:
//
//	gc 12 @3.046s 1%: 0.021+1.2+0.014 ms clock, 0.021+0.3/0.8/0+0.014 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 1 P
//
// The first and third terms of the "ms clock" triple are the two
// stop-the-world phases (sweep termination, mark termination); their sum is
// the cycle's pause. The format is the runtime's (runtime/mgc.go) and stable
// since Go 1.5.
type gcCycle struct {
	N     int
	Pause time.Duration
}

// parseGCTrace parses one gctrace line; other lines return an error.
func parseGCTrace(line []byte) (gcCycle, error) {
	rest, ok := bytes.CutPrefix(line, []byte("gc "))
	if !ok {
		return gcCycle{}, errors.New("gctrace: not a gc line")
	}
	f := bytes.Fields(rest)
	if len(f) < 6 {
		return gcCycle{}, errors.New("gctrace: too few fields")
	}
	n, err := strconv.Atoi(string(f[0]))
	if err != nil || n < 0 {
		return gcCycle{}, fmt.Errorf("gctrace: cycle %q", f[0])
	}
	// f[1] "@3.046s", f[2] "1%:", f[3] "a+b+c", f[4] "ms", f[5] "clock,"
	if string(f[4]) != "ms" || !bytes.HasPrefix(f[5], []byte("clock")) {
		return gcCycle{}, errors.New("gctrace: no ms clock triple")
	}
	terms := bytes.Split(f[3], []byte("+"))
	if len(terms) != 3 {
		return gcCycle{}, fmt.Errorf("gctrace: clock %q is not a+b+c", f[3])
	}
	var pause float64
	for _, t := range [][]byte{terms[0], terms[2]} {
		v, err := strconv.ParseFloat(string(t), 64)
		if err != nil || v < 0 || v > 1e9 {
			return gcCycle{}, fmt.Errorf("gctrace: clock term %q", t)
		}
		pause += v
	}
	return gcCycle{N: n, Pause: time.Duration(pause * float64(time.Millisecond))}, nil
}
