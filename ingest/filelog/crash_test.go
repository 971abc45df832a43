package filelog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	crashChildEnv   = "HOTPATH_FILELOG_CRASH_DIR"
	crashPolicyEnv  = "HOTPATH_FILELOG_CRASH_FSYNC"
	crashSegBytes   = 4 << 10 // rotations during the run
	crashBatch      = 5
	crashMaxBatches = 100_000 // the child stops by itself if never killed
)

func crashEvent(off int64) []byte {
	return fmt.Appendf(nil, "event %d %s", off, strings.Repeat("p", int(off%97)))
}

// crashChild appends batches to the log in dir and prints "acked N" after
// each Append that returned (N the batch's last offset), until killed.
func crashChild(dir string) int {
	policy, err := ParseFsync(os.Getenv(crashPolicyEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	l, err := Open(dir, Options{SegmentBytes: crashSegBytes, Fsync: policy})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	for range crashMaxBatches {
		next := l.Next()
		evs := make([][]byte, crashBatch)
		for i := range evs {
			evs[i] = crashEvent(next + int64(i))
		}
		pos, err := l.Append(context.Background(), evs)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(out, "acked %d\n", pos[len(pos)-1].Offset)
		if err := out.Flush(); err != nil {
			return 1
		}
	}
	return 0
}

// TestCrash: a process appending is killed with SIGKILL mid-stream; every
// record whose Append returned is there after recovery, exactly as
// written, with either fsync policy (the page cache survives a process
// crash).
func TestCrash(t *testing.T) {
	t.Parallel()
	for _, policy := range []FsyncPolicy{FsyncBatch, FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var acked int64 = -1
			for round := range 3 { // kill, restart on the same directory, kill again
				acked = crashRound(t, dir, policy, acked, 40)
				t.Logf("round %d: acknowledged up to offset %d", round, acked)
			}
			l := openLog(t, dir, Options{})
			defer closeLog(t, l)
			got := readLog(t, l, 0)
			if int64(len(got)) <= acked {
				t.Fatalf("%d records after recovery; offset %d was acknowledged", len(got), acked)
			}
			for i, r := range got {
				if r.off != int64(i) || string(r.data) != string(crashEvent(r.off)) {
					t.Fatalf("record %d = (%d, %q), want (%d, %q)", i, r.off, r.data, i, crashEvent(int64(i)))
				}
			}
		})
	}
}

// crashRound runs the child on dir until it has acknowledged acks batches
// more, kills it, and returns the last offset it acknowledged.
func crashRound(t *testing.T, dir string, policy FsyncPolicy, prevAcked int64, acks int) int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashPolicyEnv+"="+policy.String())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { // also when the test fails early: no child, no goroutine left
		_ = cmd.Process.Kill() // an error means it has ended already
		for range lines {
		}
		_ = cmd.Wait() // its error was checked below if the test got there
	})
	last := prevAcked
	deadline := time.After(20 * time.Second)
	for n := 0; n < acks; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child ended after %d acknowledgements", n)
			}
			off, err := strconv.ParseInt(strings.TrimPrefix(line, "acked "), 10, 64)
			if err != nil || off <= last {
				t.Fatalf("child said %q after offset %d", line, last)
			}
			last = off
			n++
			if n == 1 { // the child holds the directory: another process cannot open it
				l, err := Open(dir, Options{})
				if err == nil {
					l.Close()
					t.Fatal("Open succeeded while the child holds the directory")
				}
				if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
					t.Fatalf("Open while the child holds the directory = %v, want ErrLocked naming pid %d", err, cmd.Process.Pid)
				}
			}
		case <-deadline:
			t.Fatalf("child acknowledged only %d batches in 20 s", n)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-stream
		t.Fatal(err)
	}
	// Acknowledgements printed between the reading above and the kill count too.
	for line := range lines {
		if off, err := strconv.ParseInt(strings.TrimPrefix(line, "acked "), 10, 64); err == nil && off > last {
			last = off
		}
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child exit: %v, want killed", err)
	}
	return last
}
