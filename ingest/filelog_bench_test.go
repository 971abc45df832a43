package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/filelog"
)

// BenchmarkFileLog: the batch stage in front of the real file log with an
// fsync per Append, 64 parallel submitters, BatchSize 1 (fsync per event)
// against 16 (the seed's). ns/op is per event; fsyncs/s is Appends per
// second.
func BenchmarkFileLog(b *testing.B) {
	for _, size := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			log, err := filelog.Open(b.TempDir(), filelog.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			counted := &countingSink{Sink: log}
			bt, err := ingest.New(counted, ingest.Config{BatchSize: size, BatchWait: 5 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer bt.Close(context.Background())
			event := make([]byte, 256)
			b.ReportAllocs()
			b.SetParallelism(32) // 64 submitters on 2 CPUs
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := bt.Submit(ctx, event); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(counted.appends)/time.Since(start).Seconds(), "fsyncs/s")
		})
	}
}

// countingSink counts Appends; the Batcher calls Append from one goroutine.
type countingSink struct {
	ingest.Sink
	appends int
}

func (s *countingSink) Append(ctx context.Context, events [][]byte) ([]ingest.Position, error) {
	s.appends++
	return s.Sink.Append(ctx, events)
}
