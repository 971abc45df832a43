package filelog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

// seedSegment is a real segment holding evs.
func seedSegment(evs ...string) []byte {
	b := segHeader[:]
	b = bytes.Clone(b)
	for _, e := range evs {
		b = appendRecord(b, []byte(e))
	}
	return b
}

// FuzzDecode: arbitrary bytes never panic the record decoders; what
// decodes re-encodes to the same bytes, and the file reader agrees with the
// in-memory decoder.
func FuzzDecode(f *testing.F) {
	for _, s := range [][]byte{
		appendRecord(nil, []byte("an event")),
		appendRecord(nil, nil),
		appendRecord(appendRecord(nil, []byte("one")), []byte("two")),
		appendRecord(nil, []byte("torn"))[:9],
		{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		{},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, n, err := decodeRecord(data)
		rr := newRecordReader("fuzz", bytes.NewReader(data), 0, int64(len(data)))
		rp, rerr := rr.next(false)
		if err != nil {
			if rerr == nil || (len(data) == 0) != (rerr == io.EOF) {
				t.Fatalf("decodeRecord: %v; recordReader: %v", err, rerr)
			}
			if len(data) > 0 && !errors.Is(rerr, err) {
				t.Fatalf("decodeRecord: %v; recordReader: %v", err, rerr)
			}
			return
		}
		if !bytes.Equal(appendRecord(nil, p), data[:n]) {
			t.Fatalf("record does not re-encode to its bytes")
		}
		if rerr != nil || !bytes.Equal(rp, p) || rr.pos != int64(n) {
			t.Fatalf("recordReader: %q, %v at %d; decodeRecord: %q, %d", rp, rerr, rr.pos, p, n)
		}
	})
}

// FuzzRecover: arbitrary bytes as the only segment never panic Open; what
// the recovered log serves is the longest valid prefix of records, the
// segment is cut to exactly those, and ReadDir on the unrecovered
// directory served the same.
func FuzzRecover(f *testing.F) {
	full := seedSegment("first", "", "third event")
	f.Add(full)
	f.Add(full[:len(full)-3])
	f.Add(append(bytes.Clone(full), "garbage"...))
	f.Add(seedSegment())
	f.Add(segHeader[:5])
	f.Add([]byte("not a segment at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := segPath(dir, 0)
		if err := os.WriteFile(path, data, 0o640); err != nil {
			t.Fatal(err)
		}
		var before []record
		readOnlyErr := ReadDir(t.Context(), dir, 0, collect(&before))

		l, err := Open(dir, Options{Fsync: FsyncNever})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, not ErrCorrupt", err)
			}
			if readOnlyErr == nil {
				t.Fatalf("Open refused (%v) what ReadDir read", err)
			}
			return
		}
		defer l.Close()
		if readOnlyErr != nil {
			t.Fatalf("ReadDir: %v, Open succeeded", readOnlyErr)
		}
		got := readLog(t, l, 0)
		checkRecords(t, "ReadDir before recovery vs Read after", before, got)
		want := seedSegment()
		for _, r := range got {
			want = appendRecord(want, r.data)
		}
		now, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(now, want) {
			t.Fatalf("segment after recovery is not exactly the served records")
		}
		if len(data) >= segHeaderSize && !bytes.HasPrefix(data, now) {
			t.Fatalf("recovery changed bytes it kept")
		}
		// The valid prefix is the longest: one more record does not decode.
		if len(data) > len(now) && len(data) >= segHeaderSize {
			if _, _, err := decodeRecord(data[len(now):]); err == nil {
				t.Fatalf("recovery cut a valid record at %d", len(now))
			}
		}
	})
}
