// Package ingesttest is test plumbing for the packages that wire ingest
// into servers (rpc, serve, the conformance suite): an in-memory
// ingest.Sink that can be made to fail or to block, so tests reach every
// answer of the ingest path (202, 503 queue full, 503 sink down) on demand.
package ingesttest

import (
	"context"
	"sync"

	"github.com/hotpath-dev/hotpath/ingest"
)

// Sink is an in-memory ingest.Sink. It keeps a copy of every stored event
// at its offset (0, 1, 2, …; partition 0). Fail makes Append fail; Block
// makes Append wait until Release or its context ends. Its methods are
// safe for concurrent use; the zero value is ready to use.
type Sink struct {
	mu      sync.Mutex
	stored  [][]byte
	err     error
	block   chan struct{}
	entered chan struct{}
	closed  bool
}

// Append stores copies of events, unless the sink fails or is blocked
// until ctx ends (then it returns the error and stores nothing).
func (s *Sink) Append(ctx context.Context, events [][]byte) ([]ingest.Position, error) {
	s.mu.Lock()
	block, entered := s.block, s.entered
	s.mu.Unlock()
	if block != nil {
		select {
		case entered <- struct{}{}:
		default:
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
	pos := make([]ingest.Position, len(events))
	for i, e := range events {
		pos[i] = ingest.Position{Offset: int64(len(s.stored))}
		s.stored = append(s.stored, append([]byte(nil), e...))
	}
	return pos, nil
}

// Close marks the sink closed (see Closed); it stores nothing after.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Closed reports whether Close was called.
func (s *Sink) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Fail makes every Append from now on fail with err; nil heals the sink.
func (s *Sink) Fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// Block makes every Append from now on wait for Release (or its context).
// The returned channel receives, without blocking the sink, when an Append
// starts waiting (capacity 1: a signal may stand for several).
func (s *Sink) Block() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.block == nil {
		s.block, s.entered = make(chan struct{}), make(chan struct{}, 1)
	}
	return s.entered
}

// Release lets blocked and later Appends through.
func (s *Sink) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.block != nil {
		close(s.block)
		s.block, s.entered = nil, nil
	}
}

// Stored returns copies of the stored events, by offset.
func (s *Sink) Stored() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.stored))
	for i, e := range s.stored {
		out[i] = append([]byte(nil), e...)
	}
	return out
}
