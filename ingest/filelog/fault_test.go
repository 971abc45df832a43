package filelog

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
)

// faultyFile fails the operations a test arms, once each.
type faultyFile struct {
	segFile
	mu           sync.Mutex
	writeErr     error // WriteAt writes writePartial bytes, then returns writeErr
	writePartial int
	syncErr      error
	truncErr     error
	writes       int
}

func (f *faultyFile) WriteAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	err, n := f.writeErr, f.writePartial
	f.writeErr = nil
	f.writes++
	f.mu.Unlock()
	if err != nil {
		n = min(n, len(b))
		if _, werr := f.segFile.WriteAt(b[:n], off); werr != nil {
			return 0, werr
		}
		return n, err
	}
	return f.segFile.WriteAt(b, off)
}

func (f *faultyFile) Sync() error {
	f.mu.Lock()
	err := f.syncErr
	f.syncErr = nil
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.segFile.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	f.mu.Lock()
	err := f.truncErr
	f.truncErr = nil
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.segFile.Truncate(size)
}

// openFaulty opens a log whose segment files are faulty; the returned
// func gives the active one.
func openFaulty(t *testing.T, dir string, opts Options) (*Log, func() *faultyFile) {
	t.Helper()
	var mu sync.Mutex
	var last *faultyFile
	opts.wrapFile = func(f segFile) segFile {
		mu.Lock()
		defer mu.Unlock()
		last = &faultyFile{segFile: f}
		return last
	}
	l := openLog(t, dir, opts)
	return l, func() *faultyFile { mu.Lock(); defer mu.Unlock(); return last }
}

func TestFailedWrite(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		arm   func(f *faultyFile)
		cause error
	}{
		{"disk full after part of the batch", func(f *faultyFile) {
			f.writeErr, f.writePartial = &osPathError{syscall.ENOSPC}, 30
		}, syscall.ENOSPC},
		{"disk full before anything", func(f *faultyFile) { f.writeErr = &osPathError{syscall.ENOSPC} }, syscall.ENOSPC},
		{"fsync fails", func(f *faultyFile) { f.syncErr = &osPathError{syscall.EIO} }, syscall.EIO},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l, active := openFaulty(t, dir, Options{})
			ok1 := batch("ok1", 3)
			appendOK(t, l, ok1, 0)
			sizeBefore := fileLen(t, segPath(dir, 0))
			tc.arm(active())
			pos, err := l.Append(context.Background(), batch("failed", 4))
			if err == nil || pos != nil {
				t.Fatalf("Append = %v, %v; want an error", pos, err)
			}
			if !errors.Is(err, tc.cause) || errors.Is(err, ErrBroken) {
				t.Fatalf("Append error %v does not wrap %v (or says broken)", err, tc.cause)
			}
			if got := fileLen(t, segPath(dir, 0)); got != sizeBefore {
				t.Fatalf("segment is %d bytes after the failed Append, want %d (cut back)", got, sizeBefore)
			}
			ok2 := batch("ok2", 2)
			appendOK(t, l, ok2, 3) // the failed batch took no offsets
			checkRecords(t, "Read", readLog(t, l, 0), want(0, ok1, ok2))
			closeLog(t, l)
			l = openLog(t, dir, Options{})
			checkRecords(t, "Read after reopen", readLog(t, l, 0), want(0, ok1, ok2))
			closeLog(t, l)
		})
	}
}

// TestBroken: when the cut-back fails too, every later Append fails fast
// until reopened, and reopening recovers the acknowledged records.
func TestBroken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, active := openFaulty(t, dir, Options{})
	ok1 := batch("ok1", 3)
	appendOK(t, l, ok1, 0)
	f := active()
	// Less than one record reaches the file: the reopen cuts it off.
	f.writeErr, f.writePartial = &osPathError{syscall.ENOSPC}, 5
	f.truncErr = &osPathError{syscall.EIO}
	_, err := l.Append(context.Background(), batch("failed", 2))
	if !errors.Is(err, ErrBroken) || !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append = %v, want ErrBroken wrapping ENOSPC and EIO", err)
	}
	writes := f.writes
	_, err2 := l.Append(context.Background(), batch("later", 1))
	if !errors.Is(err2, ErrBroken) {
		t.Fatalf("later Append = %v, want ErrBroken", err2)
	}
	if f.writes != writes {
		t.Fatal("a broken log still wrote")
	}
	closeLog(t, l)
	l = openLog(t, dir, Options{})
	checkRecords(t, "Read after reopen", readLog(t, l, 0), want(0, ok1))
	appendOK(t, l, batch("ok2", 1), 3)
	closeLog(t, l)
}

// TestFailedRotation: a segment that cannot be created fails the Append,
// and the log goes on in the old segment.
func TestFailedRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, active := openFaulty(t, dir, Options{SegmentBytes: 64})
	ok1 := batch("ok1", 2)
	appendOK(t, l, ok1, 0)
	active().syncErr = &osPathError{syscall.EIO} // the fsync that seals the segment
	if _, err := l.Append(context.Background(), batch("failed", 2)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append = %v, want EIO", err)
	}
	ok2 := batch("ok2", 2)
	appendOK(t, l, ok2, 2)
	checkRecords(t, "Read", readLog(t, l, 0), want(0, ok1, ok2))
	closeLog(t, l)
	st, err := Stats(dir)
	if err != nil || len(st.Segments) != 2 || st.Segments[1].FirstOffset != 2 {
		t.Fatalf("Stats = %+v, %v; want segments from 0 and 2", st, err)
	}
}

// osPathError is what *os.File returns: the errno wrapped.
type osPathError struct{ errno syscall.Errno }

func (e *osPathError) Error() string { return "write segment: " + e.errno.Error() }
func (e *osPathError) Unwrap() error { return e.errno }

// TestFailedSegmentCreation: when the new segment's header cannot be
// written, the half-created file is removed, the Append fails, and the log
// goes on (the next Append creates the segment).
func TestFailedSegmentCreation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var failNext sync.Mutex
	fail := false
	opts := Options{SegmentBytes: 64}
	opts.wrapFile = func(f segFile) segFile {
		failNext.Lock()
		defer failNext.Unlock()
		ff := &faultyFile{segFile: f}
		if fail {
			ff.writeErr, fail = &osPathError{syscall.ENOSPC}, false
		}
		return ff
	}
	l := openLog(t, dir, opts)
	ok1 := batch("ok1", 2)
	appendOK(t, l, ok1, 0)
	failNext.Lock()
	fail = true
	failNext.Unlock()
	if _, err := l.Append(context.Background(), batch("failed", 2)); !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrBroken) {
		t.Fatalf("Append = %v, want ENOSPC, not broken", err)
	}
	if _, err := os.Stat(segPath(dir, 2)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the half-created segment is still there: %v", err)
	}
	ok2 := batch("ok2", 2)
	appendOK(t, l, ok2, 2)
	checkRecords(t, "Read", readLog(t, l, 0), want(0, ok1, ok2))
	closeLog(t, l)
	l = openLog(t, dir, Options{})
	checkRecords(t, "Read after reopen", readLog(t, l, 0), want(0, ok1, ok2))
	closeLog(t, l)
}
