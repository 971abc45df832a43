// Package pacer decides when an open-loop load generator sends each request.
// A Pacer is a pure function from the number of requests already sent to the
// moment the next one is due, so a schedule is tested without sleeping and a
// single pacer drives the whole run (rates are never per worker).
package pacer

import (
	"fmt"
	"math"
	"time"
)

// Pacer gives the intended send time of every request of a run.
//
// Due returns the offset from the start of the run at which the request
// numbered hits (0-based: hits requests were already sent) is due, and
// ok=false when the schedule has no such request. Implementations must be
// pure (same input, same output), monotonic in hits, and safe for concurrent
// use.
type Pacer interface {
	Due(hits uint64) (at time.Duration, ok bool)
}

// Func adapts a function to the Pacer interface.
type Func func(hits uint64) (time.Duration, bool)

// Due calls f(hits).
func (f Func) Due(hits uint64) (time.Duration, bool) { return f(hits) }

// Constant sends Rate requests per second for the whole run, evenly spaced:
// request i is due at i/Rate seconds. The zero value is not usable; build one
// with NewConstant, which validates the rate.
type Constant struct {
	rate   float64
	period float64 // nanoseconds between requests
}

// NewConstant returns a pacer of rate requests per second. It returns an
// error when rate is not a finite number greater than zero.
func NewConstant(rate float64) (Constant, error) {
	if !(rate > 0) || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return Constant{}, fmt.Errorf("pacer: rate must be a finite number > 0, got %v", rate)
	}
	return Constant{rate: rate, period: 1e9 / rate}, nil
}

// Rate returns the pacer's requests per second.
func (c Constant) Rate() float64 { return c.rate }

// Due returns i/Rate; ok is false only past the range of time.Duration.
func (c Constant) Due(i uint64) (time.Duration, bool) {
	at := float64(i) * c.period
	if at >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(at), true
}

// Wait tells a sender what to do at elapsed time since the start when hits
// requests were already sent: due is the intended send offset of the next
// request, wait how long to sleep before sending it (zero when it is due or
// overdue), and stop reports that the schedule is over. It is a pure
// function of its arguments.
func Wait(p Pacer, elapsed time.Duration, hits uint64) (due, wait time.Duration, stop bool) {
	due, ok := p.Due(hits)
	if !ok {
		return 0, 0, true
	}
	if due > elapsed {
		return due, due - elapsed, false
	}
	return due, 0, false
}

// Behind returns how many requests are due by elapsed but not yet sent when
// hits were sent: the backlog a sender that fell behind must catch up.
func Behind(p Pacer, elapsed time.Duration, hits uint64) uint64 {
	var n uint64
	for {
		due, ok := p.Due(hits + n)
		if !ok || due > elapsed {
			return n
		}
		n++
	}
}
