package filelog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// MaxRecordBytes is the largest payload one record may hold (16 MiB).
// Append rejects a larger event with an error wrapping ErrTooLarge.
const MaxRecordBytes = 16 << 20

const (
	segHeaderSize = 8 // magic "HPLG", version, 3 zero bytes
	recHeaderSize = 8 // length, CRC-32C
	formatVersion = 1
)

var segHeader = [segHeaderSize]byte{'H', 'P', 'L', 'G', formatVersion, 0, 0, 0}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// The reasons a record does not decode. They are wrapped in a
// *CorruptError (which also wraps ErrCorrupt) when they come from a file.
var (
	errShortHeader  = errors.New("short record header")
	errShortPayload = errors.New("short payload")
	errBadLength    = errors.New("record length exceeds MaxRecordBytes")
	errChecksum     = errors.New("CRC-32C mismatch")
)

// ErrCorrupt is wrapped by every error that reports bytes in a segment that
// are not a valid record or segment header.
var ErrCorrupt = errors.New("filelog: corrupt log")

// CorruptError says where a segment stops being valid. It wraps ErrCorrupt
// and the reason.
type CorruptError struct {
	Path   string // segment file
	Pos    int64  // byte position in the file of the first invalid byte(s)
	Reason error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("filelog: %s: corrupt at byte %d: %v", e.Path, e.Pos, e.Reason)
}

// Unwrap returns ErrCorrupt and the reason.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Reason} }

// appendRecord appends payload's record (header and payload) to dst. The
// header is built in dst itself: a local array would escape to the heap
// through crc32's table-driven update.
func appendRecord(dst, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, payload...)
	binary.LittleEndian.PutUint32(dst[start+4:], recordChecksum(dst[start:start+4], payload))
	return dst
}

// recordChecksum is the CRC stored in a record with header h and payload p.
func recordChecksum(h, p []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, h[0:4]), castagnoli, p)
}

// decodeRecord decodes the record at the start of b. It returns the payload
// (a subslice of b) and the record's size in bytes, or one of the errors
// above. It is the in-memory twin of recordReader.next, kept for fuzzing the
// format itself.
func decodeRecord(b []byte) (payload []byte, n int, err error) {
	if len(b) < recHeaderSize {
		return nil, 0, errShortHeader
	}
	length := binary.LittleEndian.Uint32(b[0:4])
	if length > MaxRecordBytes {
		return nil, 0, errBadLength
	}
	end := recHeaderSize + int(length)
	if len(b) < end {
		return nil, 0, errShortPayload
	}
	p := b[recHeaderSize:end]
	if recordChecksum(b, p) != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, 0, errChecksum
	}
	return p, end, nil
}

// checkSegHeader reports whether h (the first bytes of a segment) is a
// valid version-1 header.
func checkSegHeader(h []byte) error {
	if len(h) < segHeaderSize {
		return errors.New("short segment header")
	}
	if [4]byte(h[0:4]) != [4]byte(segHeader[0:4]) {
		return fmt.Errorf("bad magic %q, want %q", h[0:4], segHeader[0:4])
	}
	if h[4] != formatVersion {
		return fmt.Errorf("unsupported format version %d (this hotpath reads %d)", h[4], formatVersion)
	}
	if h[5] != 0 || h[6] != 0 || h[7] != 0 {
		return fmt.Errorf("reserved header bytes %x not zero", h[5:8])
	}
	return nil
}

// recordReader reads the records of one segment file between two byte
// positions through a buffer.
type recordReader struct {
	path    string
	br      *bufio.Reader
	pos     int64 // file position of the next record
	end     int64 // file position where reading stops
	payload []byte
	hdr     [recHeaderSize]byte // a field, not a local: see appendRecord
}

func newRecordReader(path string, r io.ReaderAt, start, end int64) *recordReader {
	return &recordReader{
		path: path,
		br:   bufio.NewReaderSize(io.NewSectionReader(r, start, end-start), 64<<10),
		pos:  start,
		end:  end,
	}
}

// next reads the record at rr.pos. It returns the payload (valid until the
// next call; nil when skip is true, in which case the CRC is not checked)
// and advances rr.pos past the record. At rr.end exactly it returns io.EOF;
// if the bytes at rr.pos are not a valid record it returns a *CorruptError
// and leaves rr.pos at the record's start; a failed read returns that error.
func (rr *recordReader) next(skip bool) ([]byte, error) {
	left := rr.end - rr.pos
	if left == 0 {
		return nil, io.EOF
	}
	if left < recHeaderSize {
		return nil, rr.corrupt(errShortHeader)
	}
	h := rr.hdr[:]
	if _, err := io.ReadFull(rr.br, h); err != nil {
		return nil, rr.readErr(err)
	}
	length := binary.LittleEndian.Uint32(h[0:4])
	if length > MaxRecordBytes {
		return nil, rr.corrupt(errBadLength)
	}
	if left-recHeaderSize < int64(length) {
		return nil, rr.corrupt(errShortPayload)
	}
	if skip {
		if _, err := rr.br.Discard(int(length)); err != nil {
			return nil, rr.readErr(err)
		}
		rr.pos += recHeaderSize + int64(length)
		return nil, nil
	}
	if cap(rr.payload) < int(length) {
		rr.payload = make([]byte, length)
	}
	p := rr.payload[:length]
	if _, err := io.ReadFull(rr.br, p); err != nil {
		return nil, rr.readErr(err)
	}
	if recordChecksum(h, p) != binary.LittleEndian.Uint32(h[4:8]) {
		return nil, rr.corrupt(errChecksum)
	}
	rr.pos += recHeaderSize + int64(length)
	return p, nil
}

func (rr *recordReader) corrupt(reason error) error {
	return &CorruptError{Path: rr.path, Pos: rr.pos, Reason: reason}
}

func (rr *recordReader) readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		// The file is shorter than its size said: it shrank under us.
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("filelog: read %s at byte %d: %w", rr.path, rr.pos, err)
}
