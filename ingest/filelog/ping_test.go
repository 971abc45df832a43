package filelog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/ingest"
)

// disk is a fault that lasts until cleared, for every file a Log writes
// (segments and the probe): a full disk or a failing device, as opposed to
// faultyFile's one-shot errors.
type disk struct {
	mu                          sync.Mutex
	writeErr, syncErr, truncErr error
	free                        uint64 // what statfs reports
	rdonly                      bool
}

func newDisk() *disk { return &disk{free: 1 << 40} }

func (d *disk) set(f func(d *disk)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func (d *disk) errs() (w, s, t error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writeErr, d.syncErr, d.truncErr
}

// options returns Options whose files and statfs go through d.
func (d *disk) options() Options {
	var o Options
	o.wrapFile = func(f segFile) segFile { return &diskFile{segFile: f, d: d} }
	o.statfs = func(string) (uint64, bool, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.free, d.rdonly, nil
	}
	return o
}

type diskFile struct {
	segFile
	d *disk
}

func (f *diskFile) WriteAt(b []byte, off int64) (int, error) {
	if err, _, _ := f.d.errs(); err != nil {
		return 0, err
	}
	return f.segFile.WriteAt(b, off)
}

func (f *diskFile) Sync() error {
	if _, err, _ := f.d.errs(); err != nil {
		return err
	}
	return f.segFile.Sync()
}

func (f *diskFile) Truncate(size int64) error {
	if _, _, err := f.d.errs(); err != nil {
		return err
	}
	return f.segFile.Truncate(size)
}

// pingFails checks that Ping fails, twice (the cause persists), with an
// error wrapping cause.
func pingFails(t *testing.T, l *Log, cause error) {
	t.Helper()
	for range 2 {
		if err := l.Ping(context.Background()); !errors.Is(err, cause) {
			t.Fatalf("Ping = %v while the fault lasts, want an error wrapping %v", err, cause)
		}
	}
}

func noProbeLeft(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, probeName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the probe file is still in DIR: %v", err)
	}
}

// TestPing: a log whose Appends fail because of the disk makes Ping fail
// while the cause lasts, and succeed (Appends too) once it is gone.
func TestPing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fault func(d *disk)
		cause error
		// appendFails: the fault fails an Append (statfs alone does not).
		appendFails bool
		// broken: the fault fails the cut-back too (the failed fsync of a
		// lasting EIO), so the log is broken and Ping repairs it.
		broken bool
	}{
		{"disk full: writes fail with ENOSPC", func(d *disk) { d.writeErr = &osPathError{syscall.ENOSPC} }, syscall.ENOSPC, true, false},
		{"device error: fsync fails with EIO, the cut-back's too", func(d *disk) { d.syncErr = &osPathError{syscall.EIO} }, syscall.EIO, true, true},
		{"nearly full: less free than a batch", func(d *disk) { d.free = pingFreeBytes - 1 }, syscall.ENOSPC, false, false},
		{"remounted read-only", func(d *disk) { d.rdonly = true }, syscall.EROFS, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			d := newDisk()
			l := openLog(t, dir, d.options())
			if err := l.Ping(context.Background()); err != nil {
				t.Fatalf("Ping of a healthy log: %v", err)
			}
			ok1 := batch("ok1", 3)
			appendOK(t, l, ok1, 0)
			d.set(tc.fault)
			if tc.appendFails {
				if _, err := l.Append(context.Background(), batch("failed", 2)); !errors.Is(err, tc.cause) || errors.Is(err, ErrBroken) != tc.broken {
					t.Fatalf("Append = %v, want %v, broken %v", err, tc.cause, tc.broken)
				}
			}
			pingFails(t, l, tc.cause)
			d.set(func(d *disk) { d.writeErr, d.syncErr, d.truncErr, d.free, d.rdonly = nil, nil, nil, 1<<40, false })
			if err := l.Ping(context.Background()); err != nil {
				t.Fatalf("Ping after the fault is gone: %v", err)
			}
			noProbeLeft(t, dir)
			ok2 := batch("ok2", 2)
			appendOK(t, l, ok2, 3)
			checkRecords(t, "Read", readLog(t, l, 0), want(0, ok1, ok2))
			closeLog(t, l)
			l = openLog(t, dir, Options{})
			checkRecords(t, "Read after reopen", readLog(t, l, 0), want(0, ok1, ok2))
			closeLog(t, l)
		})
	}
}

// TestPingRepairsBroken: a log broken by a failed cut-back stays broken
// while the truncate keeps failing; then Ping repairs it, keeps none of the
// failed batch (not even its whole records) and every acknowledged record,
// and Appends continue the offsets.
func TestPingRepairsBroken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDisk()
	l := openLog(t, dir, d.options())
	ok1 := batch("ok1", 3)
	appendOK(t, l, ok1, 0)
	d.set(func(d *disk) {
		d.syncErr = &osPathError{syscall.EIO}  // the batch is written whole, its fsync fails
		d.truncErr = &osPathError{syscall.EIO} // and so does the cut-back
	})
	if _, err := l.Append(context.Background(), batch("failed", 2)); !errors.Is(err, ErrBroken) {
		t.Fatalf("Append = %v, want ErrBroken", err)
	}
	if _, err := l.Append(context.Background(), batch("later", 1)); !errors.Is(err, ErrBroken) {
		t.Fatalf("later Append = %v, want ErrBroken", err)
	}
	pingFails(t, l, ErrBroken)
	d.set(func(d *disk) { d.syncErr = nil }) // truncate still fails
	pingFails(t, l, syscall.EIO)
	d.set(func(d *disk) { d.truncErr = nil })
	if err := l.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after the fault is gone: %v", err)
	}
	ok2 := batch("ok2", 2)
	appendOK(t, l, ok2, 3)
	checkRecords(t, "Read", readLog(t, l, 0), want(0, ok1, ok2))
	closeLog(t, l)
	l = openLog(t, dir, Options{})
	checkRecords(t, "Read after reopen", readLog(t, l, 0), want(0, ok1, ok2))
	appendOK(t, l, batch("ok3", 1), 5)
	closeLog(t, l)
}

// TestPingRemovesStraySegment: a half-created segment that could not be
// removed (the log is broken: the directory could not be opened once the
// active segment grew past its name) is removed by Ping.
func TestPingRemovesStraySegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	ok1 := batch("ok1", 2)
	appendOK(t, l, ok1, 0)
	// What createSegment leaves when its clean-up fails (os.Remove cannot
	// be made to fail here: the tests may run as root).
	stray := segPath(dir, 2)
	if err := os.WriteFile(stray, segHeader[:4], 0o640); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.broken, l.stray = ErrBroken, stray
	l.mu.Unlock()
	if _, err := l.Append(context.Background(), batch("refused", 1)); !errors.Is(err, ErrBroken) {
		t.Fatalf("Append = %v, want ErrBroken", err)
	}
	if err := l.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the stray segment is still there: %v", err)
	}
	ok2 := batch("ok2", 1)
	appendOK(t, l, ok2, 2)
	closeLog(t, l)
	l = openLog(t, dir, Options{})
	checkRecords(t, "Read after reopen", readLog(t, l, 0), want(0, ok1, ok2))
	closeLog(t, l)
}

func TestPingClosedAndCancelled(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Ping(cancelled) = %v, want context.Canceled", err)
	}
	closeLog(t, l)
	if err := l.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
}

// TestBatcherReadyRecoversWithoutTraffic is the defect this fixes: a
// batcher on a file log whose disk failed turns unready, and ready again by
// itself once the disk is back, with no event submitted in between.
func TestBatcherReadyRecoversWithoutTraffic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDisk()
	l := openLog(t, dir, d.options())
	b, err := ingest.New(l, ingest.Config{BatchSize: 1, UnreadyAfter: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(context.Background()); err != nil {
			t.Error(err)
		}
		closeLog(t, l)
	}()
	if _, err := b.Submit(context.Background(), []byte("a")); err != nil {
		t.Fatal(err)
	}
	d.set(func(d *disk) { d.writeErr = &osPathError{syscall.ENOSPC} })
	if _, err := b.Submit(context.Background(), []byte("b")); !errors.Is(err, ingest.ErrSinkUnavailable) {
		t.Fatalf("Submit on a full disk = %v, want ErrSinkUnavailable", err)
	}
	waitFor(t, "Ready false while the disk is full", func() bool { return !b.Ready() })
	d.set(func(d *disk) { d.writeErr = nil })
	waitFor(t, "Ready true again without traffic", b.Ready)
	pos, err := b.Submit(context.Background(), []byte("c"))
	if err != nil || pos.Offset != 1 {
		t.Fatalf("Submit after recovery = %+v, %v; want offset 1", pos, err)
	}
}

// waitFor polls cond for at most 5 s (the batcher pings at most once a
// second while failing).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPingWhileAppending: Pings between Appends and Reads change nothing
// in the log (the probe never touches a segment).
func TestPingWhileAppending(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	stop := make(chan struct{})
	pinged := make(chan error, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				if n == 0 {
					pinged <- errors.New("no Ping ran")
					return
				}
				pinged <- nil
				return
			default:
			}
			if err := l.Ping(context.Background()); err != nil {
				pinged <- err
				return
			}
			n++
		}
	}()
	var all [][]byte
	for i := range 50 {
		evs := batch("b"+strconv.Itoa(i), 1+i%5)
		appendOK(t, l, evs, int64(len(all)))
		all = append(all, evs...)
		if i%10 == 0 {
			checkRecords(t, "Read while pinging", readLog(t, l, 0), want(0, all))
		}
	}
	close(stop)
	if err := <-pinged; err != nil {
		t.Fatalf("Ping: %v", err)
	}
	checkRecords(t, "Read", readLog(t, l, 0), want(0, all))
	closeLog(t, l)
	noProbeLeft(t, dir)
	l = openLog(t, dir, Options{})
	checkRecords(t, "Read after reopen", readLog(t, l, 0), want(0, all))
	closeLog(t, l)
}
