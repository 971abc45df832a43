package filelog

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkAppend appends batches of 16 events of 256 bytes (the seed's
// batch size) with each fsync policy. Compare with benchstat at -count=6.
func BenchmarkAppend(b *testing.B) {
	evs := make([][]byte, 16)
	for i := range evs {
		evs[i] = bytes.Repeat([]byte{byte('a' + i)}, 256)
	}
	for _, policy := range []FsyncPolicy{FsyncBatch, FsyncNever} {
		b.Run(policy.String(), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{Fsync: policy})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ReportAllocs()
			b.SetBytes(int64(len(evs) * 256))
			ctx := context.Background()
			for b.Loop() {
				if _, err := l.Append(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkOpen opens (and closes) a log of 64 MiB of 256-byte records:
// "active" holds them in the one (active) segment, which Open CRC-checks
// record by record to find its end; "sealed" holds them in 16 sealed
// segments of 4 MiB and an active one of a batch, and Open reads only the
// sealed segments' headers.
func BenchmarkOpen(b *testing.B) {
	for _, bc := range []struct {
		name     string
		segBytes int64
	}{
		{"active", DefaultSegmentBytes},
		{"sealed", 4 << 20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			l, err := Open(dir, Options{Fsync: FsyncNever, SegmentBytes: bc.segBytes})
			if err != nil {
				b.Fatal(err)
			}
			evs := make([][]byte, 256)
			for i := range evs {
				evs[i] = bytes.Repeat([]byte{byte(i)}, 256)
			}
			per := int64(len(evs) * (recHeaderSize + 256))
			for range (DefaultSegmentBytes - segHeaderSize) / per {
				if _, err := l.Append(context.Background(), evs); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			st, err := Stats(dir)
			if err != nil {
				b.Fatal(err)
			}
			if bc.name == "sealed" && len(st.Segments) < 16 {
				b.Fatalf("%d segments, want 16 or more", len(st.Segments))
			}
			b.SetBytes(st.Bytes)
			b.ReportAllocs()
			for b.Loop() {
				l, err := Open(dir, Options{SegmentBytes: bc.segBytes})
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
