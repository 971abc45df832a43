package filelog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// segment describes one segment file.
type segment struct {
	first   int64  // offset of its first record (from its name)
	path    string // DIR/<first>.log
	size    int64  // bytes of its valid prefix: header and whole records
	records int64  // records in the valid prefix
}

const segSuffix = ".log"

// segName is the file name of the segment whose first record has offset
// first: 20 zero-padded decimal digits, so names sort as offsets do.
func segName(first int64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

// parseSegName returns the first offset a segment file name stands for, or
// false if name is not a segment file's name.
func parseSegName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// listSegments returns dir's segment files in offset order (size and
// records not filled in).
func listSegments(dir string) ([]segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("filelog: list %s: %w", dir, err)
	}
	var segs []segment
	for _, e := range entries {
		first, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		segs = append(segs, segment{first: first, path: filepath.Join(dir, e.Name())})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// scanSegment checks the segment header and reads every record of the
// first size bytes of r, checking each CRC. It returns the end of the valid
// prefix and the number of records in it. err is nil when all size bytes
// are valid; a *CorruptError (wrapping ErrCorrupt) when a record or the
// header is invalid (validEnd is then the position of the first invalid
// byte, segHeaderSize at least unless the header itself is bad); any other
// error is a failed read.
func scanSegment(path string, r io.ReaderAt, size int64) (validEnd, records int64, err error) {
	var h [segHeaderSize]byte
	if size < segHeaderSize {
		return 0, 0, &CorruptError{Path: path, Pos: 0, Reason: errors.New("short segment header")}
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0, 0, fmt.Errorf("filelog: read %s header: %w", path, err)
	}
	if err := checkSegHeader(h[:]); err != nil {
		return 0, 0, &CorruptError{Path: path, Pos: 0, Reason: err}
	}
	rr := newRecordReader(path, r, segHeaderSize, size)
	for {
		_, err := rr.next(false)
		if err == io.EOF {
			return rr.pos, records, nil
		}
		if err != nil {
			return rr.pos, records, err
		}
		records++
	}
}

// fileSize returns the size of the open file f.
func fileSize(f interface{ Stat() (os.FileInfo, error) }) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// syncDir fsyncs directory dir, making file creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filelog: open directory %s to fsync: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("filelog: fsync directory %s: %w", dir, err)
	}
	return nil
}
