//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

// fineSleeper is only available on Linux; elsewhere the pacer uses Go
// timers throughout.
type fineSleeper struct{}

func newFineSleeper() (*fineSleeper, error) { return nil, errors.New("no timerfd on this OS") }

func (s *fineSleeper) sleep(time.Duration) error { return errors.New("no timerfd on this OS") }

func (s *fineSleeper) close() error { return nil }
