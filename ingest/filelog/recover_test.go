package filelog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/ingest"
)

// writeLog makes a one-segment log of evs in a new directory and returns
// the directory and the segment's bytes.
func writeLog(t *testing.T, evs [][]byte) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendOK(t, l, evs, 0)
	closeLog(t, l)
	data, err := os.ReadFile(segPath(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	return dir, data
}

// reopenWith writes data as the only segment of a new directory, opens it,
// and checks the log then holds exactly wantEvs, the segment was cut to
// wantSize, and the next Append gets offset len(wantEvs).
func reopenWith(t *testing.T, data []byte, wantEvs [][]byte, wantSize int64) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(segPath(dir, 0), data, 0o640); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	l := openLog(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	defer closeLog(t, l)
	if got := fileLen(t, segPath(dir, 0)); got != wantSize {
		t.Fatalf("segment is %d bytes after Open, want %d", got, wantSize)
	}
	switch cut := int64(len(data)) - wantSize; {
	case len(data) < segHeaderSize:
		if !strings.Contains(logged.String(), "torn header") {
			t.Fatalf("the header rewrite was not logged: %q", logged.String())
		}
	case cut > 0:
		if !strings.Contains(logged.String(), fmt.Sprintf("bytes_cut=%d ", cut)) {
			t.Fatalf("the cut of %d bytes was not logged: %q", cut, logged.String())
		}
	default:
		if logged.Len() != 0 {
			t.Fatalf("nothing to recover, but logged %q", logged.String())
		}
	}
	checkRecords(t, "after recovery", readLog(t, l, 0), want(0, wantEvs))
	next := [][]byte{[]byte("after recovery")}
	appendOK(t, l, next, int64(len(wantEvs)))
	checkRecords(t, "after the next append", readLog(t, l, 0), want(0, wantEvs, next))
}

// TestTornTailEveryByte cuts the last record at every byte: Open must drop
// exactly that record and keep the earlier ones.
func TestTornTailEveryByte(t *testing.T) {
	t.Parallel()
	evs := [][]byte{[]byte("first"), []byte("second event"), []byte("the last record, cut at every byte")}
	_, data := writeLog(t, evs)
	ends := recEnds(t, data)
	prevEnd, lastEnd := ends[1], ends[2]
	for cut := prevEnd; cut < lastEnd; cut++ {
		reopenWith(t, data[:cut], evs[:2], prevEnd)
	}
	// The first record too, down to an empty segment.
	for cut := int64(segHeaderSize); cut < ends[0]; cut++ {
		reopenWith(t, data[:cut], nil, segHeaderSize)
	}
}

func TestCorruptTail(t *testing.T) {
	t.Parallel()
	evs := [][]byte{[]byte("first"), []byte("second"), []byte("third, the last")}
	_, data := writeLog(t, evs)
	ends := recEnds(t, data)
	prevEnd, lastEnd := ends[1], ends[2]
	modify := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(data)) }
	cases := []struct {
		name     string
		data     []byte
		wantEvs  [][]byte
		wantSize int64
	}{
		{"payload byte flipped", modify(func(b []byte) []byte { b[lastEnd-3] ^= 0x01; return b }), evs[:2], prevEnd},
		{"CRC byte flipped", modify(func(b []byte) []byte { b[prevEnd+5] ^= 0x80; return b }), evs[:2], prevEnd},
		{"length too large", modify(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[prevEnd:], MaxRecordBytes+1)
			return b
		}), evs[:2], prevEnd},
		{"length past the end", modify(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[prevEnd:], 1000)
			return b
		}), evs[:2], prevEnd},
		{"middle record corrupt: the tail from it is cut", modify(func(b []byte) []byte { b[ends[0]+9] ^= 0x01; return b }), evs[:1], ends[0]},
		{"garbage after the last record", append(bytes.Clone(data), "garbage that is not a record"...), evs, lastEnd},
		{"zeros after the last record", append(bytes.Clone(data), make([]byte, 4096)...), evs, lastEnd},
		{"a header's worth of garbage", append(bytes.Clone(data), 1, 2, 3, 4, 5, 6, 7, 8), evs, lastEnd},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reopenWith(t, tc.data, tc.wantEvs, tc.wantSize)
		})
	}
}

// TestTornSegmentHeader: a last segment whose creation was cut short gets
// its header written again.
func TestTornSegmentHeader(t *testing.T) {
	t.Parallel()
	for cut := 0; cut < segHeaderSize; cut++ {
		reopenWith(t, segHeader[:cut], nil, segHeaderSize)
	}
}

func TestBadSegmentHeader(t *testing.T) {
	t.Parallel()
	_, data := writeLog(t, batch("a", 2))
	cases := []struct {
		name     string
		at       int
		b        byte
		contains string
	}{
		{"magic", 0, 'X', "magic"},
		{"version", 4, 2, "version 2"},
		{"reserved", 6, 1, "reserved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := bytes.Clone(data)
			b[tc.at] = tc.b
			if err := os.WriteFile(segPath(dir, 0), b, 0o640); err != nil {
				t.Fatal(err)
			}
			l, err := Open(dir, Options{})
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("Open = %v, want ErrCorrupt saying %q", err, tc.contains)
			}
			if got := fileLen(t, segPath(dir, 0)); got != int64(len(b)) {
				t.Fatalf("refused segment changed size: %d, want %d", got, len(b))
			}
		})
	}
}

// manySegments writes 4 segments of 2 batches of 3 events and returns the
// directory and the segments' first offsets.
func manySegments(t *testing.T) (string, []int64) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 130})
	for i := range 8 {
		appendOK(t, l, batch("s", 3), int64(i*3))
	}
	closeLog(t, l)
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var firsts []int64
	for _, s := range segs {
		firsts = append(firsts, s.first)
	}
	if len(firsts) != 4 {
		t.Fatalf("made %d segments (%v), want 4", len(firsts), firsts)
	}
	return dir, firsts
}

// TestSealedCorruption: damage before the last segment is never cut off
// and never served. What Open can see without reading the segment (its
// header, a file too short for its records) makes Open refuse; damage
// inside it is found by whoever reads it (Read, ReadDir, Stats: ErrCorrupt
// naming the file, after serving only the records before the damage),
// while the log opens and takes Appends: Open reads no sealed segment, so
// its time does not grow with the log.
func TestSealedCorruption(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		damage   func(t *testing.T, dir string, firsts []int64) string // returns the file the error must name
		contains string
		refused  bool // Open refuses
	}{
		{"payload byte flipped in the first segment", func(t *testing.T, dir string, firsts []int64) string {
			p := segPath(dir, firsts[0])
			flipByte(t, p, segHeaderSize+recHeaderSize+1)
			return p
		}, "CRC-32C", false},
		{"torn tail of a sealed segment", func(t *testing.T, dir string, firsts []int64) string {
			p := segPath(dir, firsts[1])
			if err := os.Truncate(p, fileLen(t, p)-1); err != nil {
				t.Fatal(err)
			}
			return p
		}, "short payload", false},
		{"garbage after a sealed segment", func(t *testing.T, dir string, firsts []int64) string {
			p := segPath(dir, firsts[2])
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("garbage!!"))
			f.Close()
			return p
		}, "corrupt", false},
		{"a middle segment missing", func(t *testing.T, dir string, firsts []int64) string {
			if err := os.Remove(segPath(dir, firsts[1])); err != nil {
				t.Fatal(err)
			}
			return segName(firsts[0])
		}, "next segment starts at offset", false},
		{"a sealed segment cut to its header", func(t *testing.T, dir string, firsts []int64) string {
			p := segPath(dir, firsts[1])
			if err := os.Truncate(p, segHeaderSize+recHeaderSize-1); err != nil {
				t.Fatal(err)
			}
			return p
		}, "segments are missing", true},
		{"a sealed segment's header", func(t *testing.T, dir string, firsts []int64) string {
			p := segPath(dir, firsts[2])
			flipByte(t, p, 0)
			return p
		}, "magic", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, firsts := manySegments(t)
			names := tc.damage(t, dir, firsts)
			want := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), names) || !strings.Contains(err.Error(), tc.contains) {
					t.Fatalf("%s = %v\nwant ErrCorrupt naming %s and saying %q", what, err, names, tc.contains)
				}
			}
			if _, err := Stats(dir); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Stats = %v, want ErrCorrupt", err)
			}
			if err := ReadDir(context.Background(), dir, 0, func(ingest.Position, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadDir = %v, want ErrCorrupt", err)
			}
			l, err := Open(dir, Options{})
			if tc.refused {
				if err == nil {
					l.Close()
					t.Fatal("Open succeeded")
				}
				want("Open", err)
				// The lock was released: a repaired directory opens.
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				closeLog(t, openLog(t, dir, Options{}))
				return
			}
			if err != nil {
				t.Fatalf("Open = %v, want it to open without reading the sealed segments", err)
			}
			defer closeLog(t, l)
			next := l.Next()
			appendOK(t, l, batch("after", 2), next)
			var served []int64
			err = l.Read(context.Background(), 0, func(p ingest.Position, _ []byte) error {
				served = append(served, p.Offset)
				return nil
			})
			want("Read", err)
			damagedSeg := slices.IndexFunc(firsts, func(f int64) bool { return strings.Contains(names, segName(f)) })
			for i, off := range served {
				if off != int64(i) || (damagedSeg >= 0 && damagedSeg+1 < len(firsts) && off >= firsts[damagedSeg+1]) {
					t.Fatalf("Read served offsets %v: not in order from 0, or past the damaged segment %s", served, names)
				}
			}
		})
	}
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestReadDirTornTail: the read-only paths stop quietly at a torn tail of
// an unrecovered directory and serve nothing of it.
func TestReadDirTornTail(t *testing.T) {
	t.Parallel()
	evs := batch("a", 4)
	dir, data := writeLog(t, evs)
	ends := recEnds(t, data)
	torn := data[:ends[3]-2]
	if err := os.WriteFile(segPath(dir, 0), torn, 0o640); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, "ReadDir", readDir(t, dir, 0), want(0, evs[:3]))
	st, err := Stats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 3 || st.NextOffset != 3 || st.Bytes != int64(len(torn)) || len(st.Segments) != 1 ||
		st.Segments[0].TailBytes != int64(len(torn))-ends[2] {
		t.Fatalf("Stats = %+v", st)
	}
	// A segment file being created (empty) is not an error either.
	if err := os.WriteFile(filepath.Join(dir, segName(3)), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segPath(dir, 0), data[:ends[2]], 0o640); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, "ReadDir with an empty last segment", readDir(t, dir, 0), want(0, evs[:3]))
	if st, err := Stats(dir); err != nil || st.Records != 3 || len(st.Segments) != 2 {
		t.Fatalf("Stats with an empty last segment = %+v, %v", st, err)
	}
}
