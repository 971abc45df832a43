package policy

import "time"

// mono is a reading of the monotonic clock: the time since clockBase. The
// middlewares keep every internal time (arrival, deadlines) as a mono, because
// reading it (time.Since) costs one clock read, while time.Now reads the wall
// clock as well: 80 vs 45 ns on the project's VM, twice per request. Wall
// times are made only where the API needs one (Context.Deadline), from a fresh
// time.Now.
type mono time.Duration

var clockBase = time.Now()

// monoNow returns the current mono reading; it is always > 0.
func monoNow() mono { return mono(time.Since(clockBase)) + 1 }

// wallAt returns the time.Time of reading m, given a current time.Now().
func wallAt(m mono, now time.Time) time.Time {
	return now.Add(time.Duration(m - (mono(now.Sub(clockBase)) + 1)))
}
