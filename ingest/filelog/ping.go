package filelog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hotpath-dev/hotpath/ingest"
)

var _ ingest.Pinger = (*Log)(nil)

// Ping's checks of the directory. The free-space margin is the largest
// batch hotpath serve writes with its defaults (16 events of 64 KiB): with
// less free, the next full batch could fail, and a Ping that succeeded
// would only bring traffic back to fail again. The probe is one page.
const (
	pingFreeBytes  = 1 << 20
	probeName      = "PROBE"
	probeSizeBytes = 4 << 10
)

// probeData is what the probe writes (its content does not matter).
var probeData [probeSizeBytes]byte

// Ping reports whether the log can take an Append now, without storing
// anything: it makes *Log an ingest.Pinger, so that a Batcher whose file
// sink failed (disk full, I/O error) turns ready again by itself once the
// cause is gone, even when readiness has taken all traffic away.
//
// It returns ErrClosed after Close, and ctx's error if ctx is done before
// it starts (its calls are short and not interrupted). A broken log (see
// ErrBroken) is repaired first: Ping reopens the active segment, cuts it
// back to the end of its last acknowledged record (what the failed
// cut-back tried), fsyncs it and checks every record left in it as Open
// does, and removes a half-created segment left behind; after that the log
// takes Appends again. A failed repair returns an error wrapping ErrBroken
// and the cause, and the log stays broken.
//
// Then it checks that DIR takes writes, in two steps. statfs(2): at least
// 1 MiB free for an unprivileged user (else an error wrapping
// syscall.ENOSPC) and a file system not mounted read-only (syscall.EROFS);
// this catches a disk that has a few blocks left, too few for a batch.
// Then a probe file: DIR/PROBE created, 4 KiB written, fsynced and removed,
// which fails as an Append would on ENOSPC, EDQUOT, EIO, EROFS or EFBIG
// (RLIMIT_FSIZE), with the file system's own error wrapped. The probe
// never touches a segment, so a failed Ping changes nothing in the log; a
// crash during it can leave DIR/PROBE, which Open and readers ignore. A
// Ping costs one small write and one fsync: a Batcher calls it only while
// its sink is failing, at most once per back-off period (≤ 1 per second
// once failing for a while).
//
// Ping holds the Log's lock: it waits for an Append in progress and delays
// the next one by its duration.
func (l *Log) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.broken != nil {
		if err := l.repair(); err != nil {
			return err
		}
	}
	return l.probe()
}

// repair undoes what left the log broken (see Ping). l.mu is held.
func (l *Log) repair() error {
	if l.stray != "" {
		if err := os.Remove(l.stray); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: removing the half-created segment %s: %w", ErrBroken, l.stray, err)
		}
		if err := syncDir(l.dir); err != nil {
			return fmt.Errorf("%w: %w", ErrBroken, err)
		}
		l.stray = ""
	}
	if l.cutTo >= 0 {
		cur := &l.segs[len(l.segs)-1]
		f, err := l.openSeg(cur.path, os.O_RDWR)
		if err != nil {
			return fmt.Errorf("%w: reopen segment %s: %w", ErrBroken, cur.path, err)
		}
		if err := l.checkCut(f, cur); err != nil {
			_ = f.Close() // the check's error is the one to report
			return err
		}
		// The old descriptor may be the one that failed; nothing depends on
		// its close (the new one was fsynced).
		_ = l.active.Close()
		l.active = f
		l.cutTo = -1
	}
	l.opts.Logger.Info("filelog: repaired after a failed cut-back; taking appends again", "segment", l.segs[len(l.segs)-1].path)
	l.broken = nil
	return nil
}

// checkCut cuts f, the reopened active segment cur, back to l.cutTo bytes,
// fsyncs it and checks that it then holds exactly cur's records, each
// with a good CRC (as Open would find them).
//
// Open keeps the whole records of a torn batch because after a crash it
// cannot know where the batch began; a live log knows (l.cutTo), so it
// keeps none of a batch whose Append failed, as the Sink contract asks.
func (l *Log) checkCut(f segFile, cur *segment) error {
	if err := f.Truncate(l.cutTo); err != nil {
		return fmt.Errorf("%w: cut %s back to %d bytes: %w", ErrBroken, cur.path, l.cutTo, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%w: fsync %s: %w", ErrBroken, cur.path, err)
	}
	size, err := fileSize(f)
	if err != nil {
		return fmt.Errorf("%w: stat %s: %w", ErrBroken, cur.path, err)
	}
	end, n, err := scanSegment(cur.path, f, size)
	if err != nil {
		return fmt.Errorf("%w: check %s after the cut: %w", ErrBroken, cur.path, err)
	}
	if size != l.cutTo || end != cur.size || n != cur.records {
		return fmt.Errorf("%w: %s holds %d records in %d bytes after the cut, want %d in %d; reopen the log: %w",
			ErrBroken, cur.path, n, end, cur.records, cur.size, ErrCorrupt)
	}
	return nil
}

// probe checks that DIR takes writes (see Ping). l.mu is held.
func (l *Log) probe() error {
	free, rdonly, err := l.opts.statfs(l.dir)
	if err != nil {
		return fmt.Errorf("filelog: statfs %s: %w", l.dir, err)
	}
	if rdonly {
		return fmt.Errorf("filelog: %s is on a read-only file system: %w", l.dir, syscall.EROFS)
	}
	if free < pingFreeBytes {
		return fmt.Errorf("filelog: %s has %d bytes free, less than %d: %w", l.dir, free, pingFreeBytes, syscall.ENOSPC)
	}
	path := filepath.Join(l.dir, probeName)
	f, err := l.openSeg(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("filelog: probe %s: %w", path, err)
	}
	_, err = f.WriteAt(probeData[:], 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(path); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("filelog: probe %s: %w", path, err)
	}
	return nil
}

// statfsDir returns the bytes free for an unprivileged user on dir's file
// system and whether it is mounted read-only.
func statfsDir(dir string) (free uint64, rdonly bool, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	return st.Bavail * uint64(st.Bsize), st.Flags&unix.ST_RDONLY != 0, nil
}
