package filelog

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hotpath-dev/hotpath/ingest"
)

// TestReadWhileAppending: Read and ReadDir run alongside Appends (and
// rotations) and see a consistent prefix of the log.
func TestReadWhileAppending(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 512, Fsync: FsyncNever})
	defer closeLog(t, l)
	const batches = 200
	event := func(off int64) []byte { return fmt.Appendf(nil, "event %d", off) }

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range batches {
			evs := [][]byte{event(int64(i * 2)), event(int64(i*2 + 1))}
			if _, err := l.Append(context.Background(), evs); err != nil {
				t.Errorf("Append: %v", err)
				return
			}
		}
	}()
	check := func(name string, read func(fn func(ingest.Position, []byte) error) error) {
		for range 20 {
			next := int64(0)
			err := read(func(p ingest.Position, b []byte) error {
				if p.Offset != next || string(b) != string(event(next)) {
					return fmt.Errorf("got (%d, %q), want (%d, %q)", p.Offset, b, next, event(next))
				}
				next++
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		check("Read", func(fn func(ingest.Position, []byte) error) error { return l.Read(context.Background(), 0, fn) })
	}()
	go func() {
		defer wg.Done()
		check("ReadDir", func(fn func(ingest.Position, []byte) error) error {
			return ReadDir(context.Background(), dir, 0, fn)
		})
	}()
	wg.Wait()
	if got := l.Next(); got != 2*batches {
		t.Fatalf("Next = %d, want %d", got, 2*batches)
	}
}
