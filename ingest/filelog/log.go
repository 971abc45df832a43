package filelog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hotpath-dev/hotpath/ingest"
)

// Errors a Log returns; test with errors.Is.
var (
	// ErrClosed: Append or Read after Close.
	ErrClosed = errors.New("filelog: log is closed")
	// ErrLocked: Open found DIR locked by another Log (this or another
	// process).
	ErrLocked = errors.New("filelog: directory is locked")
	// ErrTooLarge: an event larger than MaxRecordBytes.
	ErrTooLarge = errors.New("filelog: event larger than MaxRecordBytes")
	// ErrBroken: an Append failed and cutting its partial write off the
	// segment failed too (or a half-created segment could not be removed);
	// every later Append fails with an error wrapping ErrBroken until a Ping
	// repairs the log or it is closed and reopened (Open's recovery cuts the
	// tail off).
	ErrBroken = errors.New("filelog: log unusable until repaired by Ping or reopened")
)

// segFile is what the Log needs of a segment file (an *os.File); tests wrap
// it to fail on demand.
type segFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// Log is an open file log: the file:DIR ingest sink. It implements
// ingest.Sink. Its methods are safe for concurrent use; Appends are
// serialised, and Read runs alongside them.
type Log struct {
	dir  string
	opts Options
	m    metrics
	lock *os.File // DIR/LOCK, flocked

	mu     sync.Mutex
	segs   []segment // all segments in order; the last is the active one
	active segFile   // the last segment, open for writing
	buf    []byte    // the batch being written, reused
	broken error     // set when a failed Append could not be cut off
	cutTo  int64     // broken: the size to cut the active segment back to; -1 if none
	stray  string    // broken: a half-created segment to remove; "" if none
	closed bool
}

var _ ingest.Sink = (*Log)(nil)

// Open opens the log in dir, creating dir (mode 0750) and the first
// segment if missing, takes dir's lock, and recovers: a torn or corrupt tail
// of the last segment is cut off (see the package doc); sealed segments
// are not read. It fails with an error naming the path and cause if dir
// cannot be created or used, with ErrLocked if another Log holds dir, and
// with ErrCorrupt if a sealed segment's header is damaged or its file is
// too short for its records (damage inside one is reported by Read).
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("filelog: create directory %s: %w", dir, err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, m: m, lock: lock, cutTo: -1}
	if err := l.recover(); err != nil {
		if l.active != nil {
			_ = l.active.Close() // read-only use so far, or already failed
		}
		_ = unlockDir(lock) // the error that matters is err
		return nil, err
	}
	return l, nil
}

const lockName = "LOCK"

// lockDir takes an exclusive flock on dir/LOCK and writes this process's
// pid into it (for the error message of the next one).
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("filelog: open lock file %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := ""
			if b, rerr := os.ReadFile(path); rerr == nil && len(b) > 0 {
				holder = " (pid " + strings.TrimSpace(string(b)) + ")"
			}
			return nil, fmt.Errorf("filelog: %s is in use by another log%s holding %s: %w", dir, holder, path, ErrLocked)
		}
		return nil, fmt.Errorf("filelog: lock %s: %w", path, err)
	}
	pid := strconv.Itoa(os.Getpid()) + "\n"
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(pid), 0) // informational only
	}
	return f, nil
}

func unlockDir(f *os.File) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (l *Log) openSeg(path string, flag int) (segFile, error) {
	f, err := os.OpenFile(path, flag, 0o640)
	if err != nil {
		return nil, err
	}
	if l.opts.wrapFile != nil {
		return l.opts.wrapFile(f), nil
	}
	return f, nil
}

// recover checks the segments (the sealed ones by header and size only,
// see checkSealed), cuts off the last one's bad tail and opens it for
// writing.
func (l *Log) recover() error {
	segs, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		f, path, err := l.createSegment(0)
		if err != nil {
			return err
		}
		l.active = f
		l.segs = []segment{{first: 0, path: path, size: segHeaderSize}}
		return nil
	}
	for i := range segs[:len(segs)-1] {
		s := &segs[i]
		if err := checkSealed(s, segs[i+1].first); err != nil {
			if errors.Is(err, ErrCorrupt) {
				return fmt.Errorf("filelog: sealed segment %s is damaged; refusing to open rather than drop acknowledged records (move it and the later segments away, or restore it): %w", s.path, err)
			}
			return fmt.Errorf("filelog: check sealed segment %s: %w", s.path, err)
		}
	}
	last := &segs[len(segs)-1]
	f, err := l.openSeg(last.path, os.O_RDWR)
	if err != nil {
		return fmt.Errorf("filelog: open segment %s: %w", last.path, err)
	}
	l.active = f
	size, err := fileSize(f)
	if err != nil {
		return fmt.Errorf("filelog: stat %s: %w", last.path, err)
	}
	end, n, err := int64(0), int64(0), error(nil)
	if size < segHeaderSize {
		// Its creation was interrupted before the header was durable; no
		// record was ever written to it (the header is fsynced first).
		l.opts.Logger.Warn("filelog: rewriting the torn header of the last segment", "segment", last.path, "bytes", size)
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("filelog: truncate %s: %w", last.path, err)
		}
		if _, err := f.WriteAt(segHeader[:], 0); err != nil {
			return fmt.Errorf("filelog: write header of %s: %w", last.path, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("filelog: fsync %s: %w", last.path, err)
		}
		end = segHeaderSize
	} else {
		end, n, err = scanSegment(last.path, f, size)
		var ce *CorruptError
		switch {
		case err == nil:
		case errors.As(err, &ce) && ce.Pos >= segHeaderSize:
			l.opts.Logger.Warn("filelog: cutting off the torn or corrupt tail of the last segment",
				"segment", last.path, "at", end, "bytes_cut", size-end, "records_kept", n, "reason", ce.Reason.Error())
			if err := f.Truncate(end); err != nil {
				return fmt.Errorf("filelog: cut %s back to %d bytes: %w", last.path, end, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("filelog: fsync %s: %w", last.path, err)
			}
		case errors.As(err, &ce):
			return fmt.Errorf("filelog: %s does not start as a segment of this hotpath's format; refusing to open: %w", last.path, err)
		default:
			return fmt.Errorf("filelog: check segment %s: %w", last.path, err)
		}
	}
	last.size, last.records = end, n
	l.segs = segs
	return nil
}

// checkSealed fills in sealed segment s from what Open can see without
// reading it: its records are the next segment's first offset minus its
// own (offsets are contiguous, see the package doc), its size the file's.
// It reads only the 8-byte header, so that Open's time does not grow with
// the log's size; the records' CRCs are checked when they are read
// (Read, ReadDir, Stats). It fails with ErrCorrupt when the header is not
// this format's or the file is too short to hold that many records (a
// truncated segment, or a missing one before next).
func checkSealed(s *segment, next int64) error {
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := fileSize(f)
	if err != nil {
		return err
	}
	var h [segHeaderSize]byte
	if size < segHeaderSize {
		return &CorruptError{Path: s.path, Reason: errors.New("short segment header")}
	}
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if err := checkSegHeader(h[:]); err != nil {
		return &CorruptError{Path: s.path, Reason: err}
	}
	s.records = next - s.first
	if most := (size - segHeaderSize) / recHeaderSize; s.records > most {
		return &CorruptError{Path: s.path, Pos: size, Reason: fmt.Errorf(
			"%d bytes hold at most %d records, but the next segment starts at offset %d (%d records later): truncated, or segments are missing",
			size, most, next, s.records)}
	}
	s.size = size
	return nil
}

// createSegment creates the segment starting at offset first, writes its
// header and makes it durable (file and directory fsynced).
func (l *Log) createSegment(first int64) (segFile, string, error) {
	path := filepath.Join(l.dir, segName(first))
	f, err := l.openSeg(path, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, "", fmt.Errorf("filelog: create segment %s: %w", path, err)
	}
	_, err = f.WriteAt(segHeader[:], 0)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		_ = f.Close() // the write error is the one to report
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			// A stray segment would make the directory unopenable once the
			// active one grows past its name; stop writing.
			l.broken = fmt.Errorf("%w: removing the half-created segment %s failed: %w", ErrBroken, path, rerr)
			l.stray = path
		}
		return nil, "", fmt.Errorf("filelog: create segment %s: %w", path, err)
	}
	return f, path, nil
}

// Dir returns the directory the log is in.
func (l *Log) Dir() string { return l.dir }

// SinkKind returns "file", the batch spans' sink kind (ingest.Kinder).
func (*Log) SinkKind() string { return "file" }

// Next returns the offset the next appended record will get.
func (l *Log) Next() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := l.segs[len(l.segs)-1]
	return last.first + last.records
}

// Append writes events as consecutive records with one write call and,
// with FsyncBatch, one fsync, and returns their positions (Partition 0,
// Offset the record's index from the log's start). The returned slice is
// new; Append does not keep events. A batch goes whole into the active
// segment, or into a new one when it would push the active one past
// SegmentBytes.
//
// Errors: an event over MaxRecordBytes (ErrTooLarge) fails the batch before
// anything is written; ctx done before the write starts returns ctx.Err();
// after Close, ErrClosed. A failed write or fsync (ENOSPC, EIO, …) returns
// an error wrapping the cause after cutting the segment back to its size
// before this call, so the log stays usable and holds none of the batch; if
// that cut fails too, the error and every later Append's wrap ErrBroken.
// An empty batch returns (nil, nil).
func (l *Log) Append(ctx context.Context, events [][]byte) ([]ingest.Position, error) {
	batch := int64(0)
	for i, e := range events {
		if len(e) > MaxRecordBytes {
			return nil, fmt.Errorf("filelog: event %d of the batch is %d bytes: %w", i, len(e), ErrTooLarge)
		}
		batch += recHeaderSize + int64(len(e))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.broken != nil {
		return nil, l.broken
	}
	if len(events) == 0 {
		return nil, nil
	}
	if cur := l.segs[len(l.segs)-1]; cur.records > 0 && cur.size+batch > l.opts.SegmentBytes {
		if err := l.rotate(); err != nil {
			return nil, err
		}
	}
	cur := &l.segs[len(l.segs)-1]

	buf := l.buf[:0]
	for _, e := range events {
		buf = appendRecord(buf, e)
	}
	// Keep the buffer for the next batch unless an outsized batch grew it.
	if cap(buf) <= 4<<20 {
		l.buf = buf
	} else {
		l.buf = nil
	}

	start := cur.size
	t := time.Now()
	_, err := l.active.WriteAt(buf, start)
	observe(l.m.write, t)
	if err != nil {
		return nil, l.cutBack(cur, start, fmt.Errorf("write: %w", err))
	}
	if l.opts.Fsync == FsyncBatch {
		t = time.Now()
		err = l.active.Sync()
		observe(l.m.fsync, t)
		if err != nil {
			return nil, l.cutBack(cur, start, fmt.Errorf("fsync: %w", err))
		}
	}
	pos := make([]ingest.Position, len(events))
	first := cur.first + cur.records
	for i := range pos {
		pos[i].Offset = first + int64(i)
	}
	cur.size += int64(len(buf))
	cur.records += int64(len(events))
	return pos, nil
}

// cutBack truncates the active segment to size after a failed write or
// fsync, and fsyncs it. If that fails the log is broken.
func (l *Log) cutBack(cur *segment, size int64, cause error) error {
	err := l.active.Truncate(size)
	if err == nil {
		err = l.active.Sync()
	}
	if err != nil {
		l.broken = fmt.Errorf("%w: append to %s failed (%w) and cutting the segment back to %d bytes failed: %w",
			ErrBroken, cur.path, cause, size, err)
		l.cutTo = size
		return l.broken
	}
	return fmt.Errorf("filelog: append to %s (nothing of the batch kept): %w", cur.path, cause)
}

// rotate seals the active segment (fsynced whatever the policy) and
// creates the next one.
func (l *Log) rotate() error {
	cur := l.segs[len(l.segs)-1]
	if err := l.active.Sync(); err != nil {
		return fmt.Errorf("filelog: fsync %s before starting a new segment: %w", cur.path, err)
	}
	first := cur.first + cur.records
	f, path, err := l.createSegment(first)
	if err != nil {
		return err
	}
	if err := l.active.Close(); err != nil {
		// It was fsynced above; nothing acknowledged depends on this close.
		l.opts.Logger.Warn("filelog: closing a sealed segment failed", "segment", cur.path, "err", err.Error())
	}
	l.active = f
	l.segs = append(l.segs, segment{first: first, path: path, size: segHeaderSize})
	return nil
}

// Read calls fn for each record from offset from (0 is the log's start)
// to the last one whose Append had returned when Read was called, in
// order, with its position and payload. The payload is valid only until fn
// returns (Read reuses it); fn must not keep it. Appends may run while Read
// does; it does not see them. A from past the end calls fn for nothing.
// Read stops at and returns fn's first error, ctx's error, a read error, or
// an error wrapping ErrCorrupt if a record's CRC does not match (the file
// changed under the log). After Close it returns ErrClosed.
func (l *Log) Read(ctx context.Context, from int64, fn func(ingest.Position, []byte) error) error {
	if from < 0 {
		return fmt.Errorf("filelog: read from offset %d: negative", from)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	segs := slices.Clone(l.segs)
	l.mu.Unlock()
	return readSegments(ctx, segs, from, false, fn)
}

// Close fsyncs and closes the active segment and releases the directory's
// lock. Later Appends and Reads return ErrClosed; a second Close returns
// nil.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	if err := l.active.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("filelog: fsync %s: %w", l.segs[len(l.segs)-1].path, err))
	}
	if err := l.active.Close(); err != nil {
		errs = append(errs, fmt.Errorf("filelog: close %s: %w", l.segs[len(l.segs)-1].path, err))
	}
	if err := unlockDir(l.lock); err != nil {
		errs = append(errs, fmt.Errorf("filelog: release lock of %s: %w", l.dir, err))
	}
	return errors.Join(errs...)
}
