package filelog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/ingest"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, policy := range []FsyncPolicy{FsyncBatch, FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data") // Open creates it
			l := openLog(t, dir, Options{Fsync: policy})
			b1, b2 := batch("a", 1), batch("b", 16)
			// An empty event and a 64 KiB one (the server's default limit).
			b3 := [][]byte{{}, bytes.Repeat([]byte{0xff}, 64<<10), []byte("last")}
			appendOK(t, l, b1, 0)
			appendOK(t, l, b2, 1)
			appendOK(t, l, b3, 17)
			checkRecords(t, "before reopen", readLog(t, l, 0), want(0, b1, b2, b3))
			closeLog(t, l)

			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o750 {
				t.Fatalf("dir mode: %v, %v; want 0750", fi.Mode(), err)
			}
			l = openLog(t, dir, Options{Fsync: policy})
			checkRecords(t, "after reopen", readLog(t, l, 0), want(0, b1, b2, b3))
			if got := l.Next(); got != 20 {
				t.Fatalf("Next after reopen = %d, want 20", got)
			}
			b4 := batch("d", 2)
			appendOK(t, l, b4, 20) // offsets continue after a restart
			checkRecords(t, "after append", readLog(t, l, 0), want(0, b1, b2, b3, b4))
			checkRecords(t, "ReadDir while open", readDir(t, dir, 0), want(0, b1, b2, b3, b4))
			closeLog(t, l)
		})
	}
}

func TestReadFrom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Small segments so that from lands in various segments.
	l := openLog(t, dir, Options{SegmentBytes: 128})
	var all [][]byte
	for i := range 10 {
		b := batch(string(rune('a'+i)), 3)
		appendOK(t, l, b, int64(i*3))
		all = append(all, b...)
	}
	defer closeLog(t, l)
	cases := []struct {
		name string
		from int64
	}{
		{"start", 0},
		{"inside the first segment", 1},
		{"a segment's first record", 3},
		{"middle", 17},
		{"last record", 29},
		{"end: nothing", 30},
		{"past the end: nothing", 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w []record
			if tc.from < 30 {
				w = want(tc.from, all[tc.from:])
			}
			checkRecords(t, "Read", readLog(t, l, tc.from), w)
			checkRecords(t, "ReadDir", readDir(t, dir, tc.from), w)
		})
	}
	t.Run("negative", func(t *testing.T) {
		if err := l.Read(context.Background(), -1, collect(new([]record))); err == nil {
			t.Fatal("Read(-1) succeeded")
		}
		if err := ReadDir(context.Background(), dir, -1, collect(new([]record))); err == nil {
			t.Fatal("ReadDir(-1) succeeded")
		}
	})
	t.Run("fn error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := l.Read(context.Background(), 0, func(_ ingest.Position, _ []byte) error {
			n++
			if n == 5 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 5 {
			t.Fatalf("Read = %v after %d calls, want stop after 5", err, n)
		}
	})
	t.Run("ctx done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.Read(ctx, 0, collect(new([]record))); !errors.Is(err, context.Canceled) {
			t.Fatalf("Read with a done ctx = %v, want context.Canceled", err)
		}
	})
}

func TestAppendErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	ctx := context.Background()

	if _, err := l.Append(ctx, [][]byte{[]byte("ok"), make([]byte, MaxRecordBytes+1)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of a %d-byte event = %v, want ErrTooLarge", MaxRecordBytes+1, err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Append(done, batch("x", 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a done ctx = %v, want context.Canceled", err)
	}
	if pos, err := l.Append(ctx, nil); pos != nil || err != nil {
		t.Fatalf("Append(nil) = %v, %v; want nil, nil", pos, err)
	}
	// None of the failed calls wrote anything.
	if l.Next() != 0 || fileLen(t, segPath(dir, 0)) != segHeaderSize {
		t.Fatalf("failed Appends wrote: Next %d, size %d", l.Next(), fileLen(t, segPath(dir, 0)))
	}
	appendOK(t, l, batch("y", 2), 0)
	closeLog(t, l)
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := l.Append(ctx, batch("z", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Read(ctx, 0, collect(new([]record))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v, want ErrClosed", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	file := filepath.Join(base, "plain-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		dir      string
		opts     Options
		contains string
	}{
		{"dir is a file", file, Options{}, file},
		{"dir under a file", filepath.Join(file, "sub"), Options{}, "not a directory"},
		{"negative SegmentBytes", base, Options{SegmentBytes: -1}, "SegmentBytes"},
		{"unknown fsync policy", base, Options{Fsync: 7}, "Fsync"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(tc.dir, tc.opts)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not name %q", err, tc.contains)
			}
		})
	}
}

func TestLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	l2, err := Open(dir, Options{})
	if !errors.Is(err, ErrLocked) {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("lock error %q names neither the directory nor the holder's pid", err)
	}
	// Stats and ReadDir need no lock.
	appendOK(t, l, batch("a", 3), 0)
	st, err := Stats(dir)
	if err != nil || st.Records != 3 {
		t.Fatalf("Stats on a locked dir = %+v, %v; want 3 records", st, err)
	}
	closeLog(t, l)
	l = openLog(t, dir, Options{}) // the lock was released
	closeLog(t, l)
}

func TestParseFsync(t *testing.T) {
	t.Parallel()
	for _, p := range []FsyncPolicy{FsyncBatch, FsyncNever} {
		got, err := ParseFsync(p.String())
		if err != nil || got != p {
			t.Fatalf("ParseFsync(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParseFsync("always"); err == nil {
		t.Fatal(`ParseFsync("always") succeeded`)
	}
}
