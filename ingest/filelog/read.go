package filelog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hotpath-dev/hotpath/ingest"
)

// readSegments calls fn for the records of segs from offset from on. A
// segment's size < 0 means "its file's size now". With live set, the
// directory may have a writer (or a crashed one): the last segment's first
// invalid bytes end the read quietly instead of being an error.
func readSegments(ctx context.Context, segs []segment, from int64, live bool, fn func(ingest.Position, []byte) error) error {
	for i, s := range segs {
		last := i == len(segs)-1
		if !last && segs[i+1].first <= from {
			continue
		}
		n, err := readSegment(ctx, s, from, live && last, fn)
		if err != nil {
			return err
		}
		if !last && s.first+n != segs[i+1].first {
			return fmt.Errorf("filelog: %s holds %d records but the next segment starts at offset %d: %w",
				s.path, n, segs[i+1].first, ErrCorrupt)
		}
	}
	return nil
}

// readSegment reads one segment; see readSegments. It returns the number of
// records it went through (served or skipped).
func readSegment(ctx context.Context, s segment, from int64, tail bool, fn func(ingest.Position, []byte) error) (int64, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return 0, fmt.Errorf("filelog: open %s: %w", s.path, err)
	}
	defer f.Close()
	size := s.size
	if size < 0 {
		if size, err = fileSize(f); err != nil {
			return 0, fmt.Errorf("filelog: stat %s: %w", s.path, err)
		}
	}
	if tail && size < segHeaderSize {
		return 0, nil // being created
	}
	var h [segHeaderSize]byte
	if size < segHeaderSize {
		return 0, &CorruptError{Path: s.path, Reason: errors.New("short segment header")}
	}
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return 0, fmt.Errorf("filelog: read %s header: %w", s.path, err)
	}
	if err := checkSegHeader(h[:]); err != nil {
		return 0, &CorruptError{Path: s.path, Reason: err}
	}
	rr := newRecordReader(s.path, f, segHeaderSize, size)
	off := s.first
	for {
		if err := ctx.Err(); err != nil {
			return off - s.first, err
		}
		skip := off < from
		p, err := rr.next(skip)
		if err == io.EOF {
			return off - s.first, nil
		}
		if err != nil {
			if tail && errors.Is(err, ErrCorrupt) {
				return off - s.first, nil
			}
			return off - s.first, err
		}
		if !skip {
			if err := fn(ingest.Position{Offset: off}, p); err != nil {
				return off - s.first, err
			}
		}
		off++
	}
}

// ReadDir reads the log in dir without opening it: it takes no lock and
// writes nothing, so it works on a directory a running server holds (for
// `hotpath ingest read`). It calls fn as (*Log).Read does, from offset
// from, and ends quietly at the first invalid bytes of the last segment —
// an Append in progress, or the torn tail of a crashed writer that Open
// will cut off. It may serve the records of an Append that is still to
// fsync and could yet fail; (*Log).Read never does. fn's payload is valid
// only until fn returns. A corrupt sealed segment is an error wrapping
// ErrCorrupt.
func ReadDir(ctx context.Context, dir string, from int64, fn func(ingest.Position, []byte) error) error {
	if from < 0 {
		return fmt.Errorf("filelog: read from offset %d: negative", from)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	for i := range segs {
		segs[i].size = -1
	}
	return readSegments(ctx, segs, from, true, fn)
}

// SegmentStats describes one segment file.
type SegmentStats struct {
	Name        string `json:"name"`         // file name in the directory
	FirstOffset int64  `json:"first_offset"` // offset of its first record
	Records     int64  `json:"records"`      // valid records
	Bytes       int64  `json:"bytes"`        // file size
	// TailBytes are bytes past its last valid record: only the last
	// segment can have them (an Append in progress, or a crashed writer's
	// torn tail that the next Open cuts off).
	TailBytes int64 `json:"tail_bytes"`
}

// DirStats sums up a log directory.
type DirStats struct {
	Dir        string         `json:"dir"`
	Segments   []SegmentStats `json:"segments"`
	Records    int64          `json:"records"`     // valid records in all segments
	Bytes      int64          `json:"bytes"`       // bytes of all segment files
	NextOffset int64          `json:"next_offset"` // offset after the last valid record
}

// Stats reads every segment of the log in dir (CRC-checking every record)
// without opening the log: it takes no lock and writes nothing, so it works
// on a directory a running server holds (for `hotpath ingest stats`). A
// directory without segments gives zero counts. Errors: dir unreadable, or a
// sealed segment corrupt or out of sequence (wrapping ErrCorrupt).
func Stats(dir string) (DirStats, error) {
	st := DirStats{Dir: dir}
	segs, err := listSegments(dir)
	if err != nil {
		return st, err
	}
	for i, s := range segs {
		last := i == len(segs)-1
		ss, err := segmentStats(s, last)
		if err != nil {
			return st, err
		}
		if !last && s.first+ss.Records != segs[i+1].first {
			return st, fmt.Errorf("filelog: %s holds %d records but the next segment starts at offset %d: %w",
				s.path, ss.Records, segs[i+1].first, ErrCorrupt)
		}
		st.Segments = append(st.Segments, ss)
		st.Records += ss.Records
		st.Bytes += ss.Bytes
		st.NextOffset = s.first + ss.Records
	}
	return st, nil
}

func segmentStats(s segment, last bool) (SegmentStats, error) {
	ss := SegmentStats{Name: filepath.Base(s.path), FirstOffset: s.first}
	f, err := os.Open(s.path)
	if err != nil {
		return ss, fmt.Errorf("filelog: open %s: %w", s.path, err)
	}
	defer f.Close()
	if ss.Bytes, err = fileSize(f); err != nil {
		return ss, fmt.Errorf("filelog: stat %s: %w", s.path, err)
	}
	if last && ss.Bytes < segHeaderSize {
		ss.TailBytes = ss.Bytes // being created
		return ss, nil
	}
	end, n, err := scanSegment(s.path, f, ss.Bytes)
	ss.Records = n
	var ce *CorruptError
	if err != nil && !(last && errors.As(err, &ce) && ce.Pos >= segHeaderSize) {
		return ss, err
	}
	ss.TailBytes = ss.Bytes - end
	return ss, nil
}
