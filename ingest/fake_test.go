package ingest

import (
	"context"
	"errors"
	"sync"
)

// memSink is the batcher tests' in-memory Sink: it keeps copies of what it
// stored, can fail on demand and can block until released.
type memSink struct {
	mu      sync.Mutex
	stored  [][]byte // by offset
	sizes   []int    // events per successful Append
	calls   int      // every Append, failed ones too
	err     error    // returned by Append while set
	block   chan struct{}
	entered chan struct{} // receives once per Append that blocks
	pingErr error
	pings   int
}

func (s *memSink) Append(ctx context.Context, events [][]byte) ([]Position, error) {
	s.mu.Lock()
	s.calls++
	block := s.block
	s.mu.Unlock()
	if block != nil {
		if s.entered != nil {
			s.entered <- struct{}{}
		}
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	pos := make([]Position, len(events))
	for i, e := range events {
		pos[i] = Position{Offset: int64(len(s.stored))}
		s.stored = append(s.stored, append([]byte(nil), e...))
	}
	s.sizes = append(s.sizes, len(events))
	return pos, nil
}

func (s *memSink) Close() error { return nil }

func (s *memSink) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *memSink) snapshot() (sizes []int, stored [][]byte, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...), append([][]byte(nil), s.stored...), s.calls
}

// pingSink is a memSink that also implements Pinger.
type pingSink struct{ memSink }

func (s *pingSink) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pings++
	return s.pingErr
}

// partSink is a memSink that says it is partitioned.
type partSink struct{ memSink }

func (*partSink) Partitioned() bool { return true }

var errDiskFull = errors.New("disk full")
