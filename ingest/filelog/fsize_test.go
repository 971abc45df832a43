package filelog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const fsizeChildEnv = "HOTPATH_FILELOG_FSIZE_DIR"

func fsizeEvent(off int64) []byte { return fmt.Appendf(nil, "event %d %0200d", off, off) }

// fsizeChild appends to the log in dir under a 64 KiB file size limit
// (RLIMIT_FSIZE) until the kernel refuses a write (a real partial write,
// then EFBIG), checks the segment was cut back, lifts the limit, appends
// once more, and prints "acked N" with the number of acknowledged events.
func fsizeChild(dir string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		return 1
	}
	signal.Ignore(syscall.SIGXFSZ) // the write returns EFBIG instead
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		return fail("getrlimit: %v", err)
	}
	old := lim.Cur
	lim.Cur = 64 << 10
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		return fail("setrlimit: %v", err)
	}
	l, err := Open(dir, Options{SegmentBytes: 1 << 20})
	if err != nil {
		return fail("Open: %v", err)
	}
	ctx := context.Background()
	appendBatch := func() error {
		next := l.Next()
		evs := make([][]byte, 16)
		for i := range evs {
			evs[i] = fsizeEvent(next + int64(i))
		}
		_, err := l.Append(ctx, evs)
		return err
	}
	for {
		before := l.Next()
		st, err := os.Stat(segPath(dir, 0))
		if err != nil {
			return fail("stat: %v", err)
		}
		err = appendBatch()
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.EFBIG) || errors.Is(err, ErrBroken) {
			return fail("Append over the limit = %v, want EFBIG", err)
		}
		after, err2 := os.Stat(segPath(dir, 0))
		if err2 != nil || after.Size() != st.Size() || l.Next() != before {
			return fail("after the failed Append: size %d (was %d), next %d (was %d), %v", after.Size(), st.Size(), l.Next(), before, err2)
		}
		break
	}
	lim.Cur = old
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		return fail("setrlimit: %v", err)
	}
	if err := appendBatch(); err != nil {
		return fail("Append after lifting the limit: %v", err)
	}
	n := l.Next()
	if err := l.Close(); err != nil {
		return fail("Close: %v", err)
	}
	fmt.Printf("acked %d\n", n)
	return 0
}

// TestFileSizeLimit: a write the kernel cuts short (RLIMIT_FSIZE: part of
// the batch written, then EFBIG, as with a full disk) fails the Append, the
// segment is cut back, and the log goes on. In a child process, since the
// limit is per process.
func TestFileSizeLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v (stdout %q)", err, out)
	}
	var acked int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "acked %d", &acked); err != nil || acked < 16 {
		t.Fatalf("child said %q", out)
	}
	l := openLog(t, dir, Options{})
	defer closeLog(t, l)
	got := readLog(t, l, 0)
	if int64(len(got)) != acked {
		t.Fatalf("%d records, want the %d acknowledged", len(got), acked)
	}
	for i, r := range got {
		if string(r.data) != string(fsizeEvent(int64(i))) {
			t.Fatalf("record %d = %q", i, r.data)
		}
	}
}
