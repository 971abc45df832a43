package loadgen

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fineSleeper sleeps for sub-millisecond durations with a timerfd read
// through the Go netpoller. Go timers wake an idle process up to ~1 ms late
// (the poller's epoll timeout has millisecond resolution), which would add
// to every corrected latency of an open-loop run at low rates; a timerfd
// expiry wakes the poller with hrtimer precision (about 0.1 ms late on this
// project's loaded test VM, against about 1 ms for a Go timer).
//
// The wait goes through syscall.RawConn so that the expiry is read once,
// after the poller reports it: os.File.Read would first try a read that is
// bound to fail (EAGAIN), one syscall per sleep for nothing.
type fineSleeper struct {
	fd       int
	f        *os.File
	rc       syscall.RawConn
	wait     func(fd uintptr) bool // the RawConn.Read callback, allocated once
	first    bool                  // the next callback call is the first of a sleep
	deadline time.Time             // no later than the expiry of the current sleep
	err      error                 // the read error seen by wait
	buf      [8]byte
}

func newFineSleeper() (*fineSleeper, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	s := &fineSleeper{fd: fd, f: os.NewFile(uintptr(fd), "pacer-timerfd")}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	s.wait = func(fd uintptr) bool {
		if s.first {
			s.first = false
			// Before the deadline the timer cannot have expired, so the
			// poller will report the expiry: wait without reading. (An
			// expiry that came before RawConn.Read started is not reported
			// again, since Read resets the poller's readiness first; past
			// the deadline, read.)
			if time.Now().Before(s.deadline) {
				return false
			}
		}
		_, err := unix.Read(int(fd), s.buf[:])
		if err == unix.EAGAIN {
			return false // not expired yet: wait for the poller
		}
		s.err = err
		return true
	}
	return s, nil
}

// sleep blocks for d (d > 0), parking the goroutine, not the thread.
func (s *fineSleeper) sleep(d time.Duration) error {
	s.first, s.deadline, s.err = true, time.Now().Add(d), nil
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(s.fd, 0, &spec, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	if err := s.rc.Read(s.wait); err != nil {
		return fmt.Errorf("timerfd wait: %w", err)
	}
	if s.err != nil {
		return fmt.Errorf("timerfd read: %w", s.err)
	}
	return nil
}

func (s *fineSleeper) close() error { return s.f.Close() }
