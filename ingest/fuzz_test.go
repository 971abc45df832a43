package ingest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// flakySink fails the Appends whose index has its bit set in mask (index
// mod 16), and stores the others in memory.
type flakySink struct {
	memSink
	mask  uint16
	index int
	max   int // largest batch seen
}

func (s *flakySink) Append(ctx context.Context, events [][]byte) ([]Position, error) {
	s.mu.Lock()
	i := s.index
	s.index++
	s.max = max(s.max, len(events))
	s.mu.Unlock()
	if s.mask&(1<<(i%16)) != 0 {
		return nil, errDiskFull
	}
	return s.memSink.Append(ctx, events)
}

// FuzzBatcher: any mix of event sizes, batch and queue sizes, and sink
// failures keeps the contract: every Submit that returned a Position has its
// exact bytes stored there, every refusal is one of the documented errors for
// the right reason, nothing is stored that was not acknowledged, no Append
// exceeds BatchSize, and nothing is left pending.
func FuzzBatcher(f *testing.F) {
	f.Add([]byte("\x05hello\x00\x03abc\x28"), uint8(3), uint8(2), uint16(0))
	f.Add(bytes.Repeat([]byte{4, 'a', 'b', 'c', 'd'}, 20), uint8(15), uint8(0), uint16(0x5555))
	f.Add([]byte{40, 1, 2, 3}, uint8(0), uint8(1), uint16(0xffff))
	f.Fuzz(func(t *testing.T, data []byte, bs, extra uint8, failMask uint16) {
		const maxEvent = 32
		cfg := Config{
			BatchSize:     1 + int(bs%8),
			BatchWait:     200 * time.Microsecond,
			MaxEventBytes: maxEvent,
			UnreadyAfter:  time.Hour,
		}
		cfg.Queue = cfg.BatchSize + int(extra%8)
		// data is a list of events, each a length byte (mod 40, so some
		// are empty or too large) then that many bytes.
		var evs [][]byte
		for len(data) > 0 && len(evs) < 64 {
			n := int(data[0]) % 40
			data = data[1:]
			n = min(n, len(data)+maxEvent+1) // a too-large event may run past the data
			ev := make([]byte, n)
			copy(ev, data)
			data = data[min(n, len(data)):]
			evs = append(evs, ev)
		}
		s := &flakySink{mask: failMask}
		b, err := New(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		type res struct {
			pos Position
			err error
		}
		results := make([]res, len(evs))
		var wg sync.WaitGroup
		for i, ev := range evs {
			wg.Go(func() {
				pos, err := b.Submit(context.Background(), ev)
				results[i] = res{pos, err}
			})
		}
		wg.Wait()
		if err := b.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, stored, _ := s.snapshot()
		acked := 0
		for i, r := range results {
			ev := evs[i]
			switch {
			case len(ev) == 0:
				if !errors.Is(r.err, ErrEmpty) {
					t.Fatalf("empty event: %v", r.err)
				}
			case len(ev) > maxEvent:
				if !errors.Is(r.err, ErrTooLarge) {
					t.Fatalf("%d-byte event: %v", len(ev), r.err)
				}
			case r.err == nil:
				acked++
				if r.pos.Offset >= int64(len(stored)) || !bytes.Equal(stored[r.pos.Offset], ev) {
					t.Fatalf("event %q acknowledged at %d, not stored there", ev, r.pos.Offset)
				}
			case errors.Is(r.err, ErrSinkUnavailable), errors.Is(r.err, ErrQueueFull):
			default:
				t.Fatalf("event %q: unexpected error %v", ev, r.err)
			}
		}
		if acked != len(stored) {
			t.Fatalf("%d acknowledged, %d stored", acked, len(stored))
		}
		if s.max > cfg.BatchSize {
			t.Fatalf("an Append of %d events, BatchSize %d", s.max, cfg.BatchSize)
		}
		if b.Pending() != 0 {
			t.Fatalf("%d pending after Close", b.Pending())
		}
	})
}
