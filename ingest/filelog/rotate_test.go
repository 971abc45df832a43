package filelog

import (
	"fmt"
	"os"
	"testing"
)

func TestRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const segBytes = 300
	opts := Options{SegmentBytes: segBytes}
	l := openLog(t, dir, opts)
	var all [][]byte
	var batchStarts = map[int64]bool{}
	for i := range 40 {
		b := batch(fmt.Sprint("r", i), 1+i%4)
		batchStarts[int64(len(all))] = true
		appendOK(t, l, b, int64(len(all)))
		all = append(all, b...)
	}
	// One batch larger than SegmentBytes alone: it gets a segment of its own.
	big := [][]byte{make([]byte, segBytes), []byte("tail of the big batch")}
	bigFirst := int64(len(all))
	appendOK(t, l, big, bigFirst)
	all = append(all, big...)
	after := batch("after", 2)
	appendOK(t, l, after, int64(len(all)))
	all = append(all, after...)
	checkRecords(t, "Read across segments", readLog(t, l, 0), want(0, all))
	closeLog(t, l)

	st, err := Stats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Segments) < 5 {
		t.Fatalf("%d segments, want several: %+v", len(st.Segments), st.Segments)
	}
	var records, bytes int64
	for i, s := range st.Segments {
		if s.Name != segName(s.FirstOffset) || s.TailBytes != 0 {
			t.Fatalf("segment %d: %+v", i, s)
		}
		if !batchStarts[s.FirstOffset] && s.FirstOffset != bigFirst && s.FirstOffset != bigFirst+2 {
			t.Fatalf("segment %s starts inside a batch", s.Name)
		}
		if s.Bytes > segBytes && s.FirstOffset != bigFirst {
			t.Fatalf("segment %s is %d bytes, over SegmentBytes %d without an outsized batch", s.Name, s.Bytes, segBytes)
		}
		if i+1 < len(st.Segments) && s.FirstOffset+s.Records != st.Segments[i+1].FirstOffset {
			t.Fatalf("segment %s: %d records, next starts at %d", s.Name, s.Records, st.Segments[i+1].FirstOffset)
		}
		if fi, err := os.Stat(segPath(dir, s.FirstOffset)); err != nil || fi.Size() != s.Bytes {
			t.Fatalf("segment %s: Stats says %d bytes, file: %v %v", s.Name, s.Bytes, fi, err)
		}
		records += s.Records
		bytes += s.Bytes
	}
	if records != int64(len(all)) || st.Records != records || st.Bytes != bytes || st.NextOffset != int64(len(all)) {
		t.Fatalf("Stats totals %+v; want %d records", st, len(all))
	}
	big1 := st.Segments[len(st.Segments)-2]
	if big1.FirstOffset != bigFirst || big1.Records != 2 {
		t.Fatalf("the outsized batch's segment: %+v, want 2 records from %d", big1, bigFirst)
	}

	l = openLog(t, dir, opts)
	checkRecords(t, "Read after reopen", readLog(t, l, 0), want(0, all))
	more := batch("more", 3)
	appendOK(t, l, more, int64(len(all)))
	checkRecords(t, "ReadDir after reopen", readDir(t, dir, 0), want(0, all, more))
	closeLog(t, l)
}
