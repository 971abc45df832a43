package filelog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotpath-dev/hotpath/ingest"
)

// record is one event as read back.
type record struct {
	off  int64
	data []byte
}

func openLog(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

func closeLog(t *testing.T, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// batch returns n distinct events named after tag, of varied sizes.
func batch(tag string, n int) [][]byte {
	evs := make([][]byte, n)
	for i := range evs {
		evs[i] = fmt.Appendf(nil, "%s-%d-%s", tag, i, bytes.Repeat([]byte{'x'}, i*7%50))
	}
	return evs
}

// appendOK appends evs and checks their offsets start at want.
func appendOK(t *testing.T, l *Log, evs [][]byte, want int64) {
	t.Helper()
	pos, err := l.Append(context.Background(), evs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(pos) != len(evs) {
		t.Fatalf("Append returned %d positions for %d events", len(pos), len(evs))
	}
	for i, p := range pos {
		if p.Partition != 0 || p.Offset != want+int64(i) {
			t.Fatalf("position %d = %+v, want offset %d", i, p, want+int64(i))
		}
	}
}

func collect(dst *[]record) func(ingest.Position, []byte) error {
	return func(p ingest.Position, b []byte) error {
		if p.Partition != 0 {
			return fmt.Errorf("partition %d", p.Partition)
		}
		*dst = append(*dst, record{p.Offset, bytes.Clone(b)})
		return nil
	}
}

func readLog(t *testing.T, l *Log, from int64) []record {
	t.Helper()
	var got []record
	if err := l.Read(context.Background(), from, collect(&got)); err != nil {
		t.Fatalf("Read(from %d): %v", from, err)
	}
	return got
}

func readDir(t *testing.T, dir string, from int64) []record {
	t.Helper()
	var got []record
	if err := ReadDir(context.Background(), dir, from, collect(&got)); err != nil {
		t.Fatalf("ReadDir(from %d): %v", from, err)
	}
	return got
}

// want numbers evs from offset first.
func want(first int64, evs ...[][]byte) []record {
	var out []record
	for _, b := range evs {
		for _, e := range b {
			out = append(out, record{first, e})
			first++
		}
	}
	return out
}

func checkRecords(t *testing.T, what string, got, want []record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i].off != want[i].off || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("%s: record %d = (%d, %q), want (%d, %q)", what, i, got[i].off, got[i].data, want[i].off, want[i].data)
		}
	}
}

func segPath(dir string, first int64) string { return filepath.Join(dir, segName(first)) }

func fileLen(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// recEnd returns the end positions of the records in segment data.
func recEnds(t *testing.T, data []byte) []int64 {
	t.Helper()
	var ends []int64
	pos := segHeaderSize
	for pos < len(data) {
		_, n, err := decodeRecord(data[pos:])
		if err != nil {
			t.Fatalf("segment has an invalid record at %d: %v", pos, err)
		}
		pos += n
		ends = append(ends, int64(pos))
	}
	return ends
}
