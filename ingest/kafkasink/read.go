package kafkasink

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hotpath-dev/hotpath/ingest"
)

// Read calls fn with every record of the topic whose offset is at least
// from, in every partition, up to the partitions' end offsets (high
// watermarks) as listed when Read is called; records produced later are not
// read. Within a partition records come in offset order; partitions are
// interleaved. Records below a partition's start (deleted by retention) are
// skipped. The value passed to fn is valid only during the call.
//
// Read uses its own consumer client, closed before it returns, so it may
// run while Append does. It returns fn's first error, or an error wrapping
// the cluster's or ctx's; a negative from is an error.
func (s *Sink) Read(ctx context.Context, from int64, fn func(ingest.Position, []byte) error) error {
	if from < 0 {
		return fmt.Errorf("kafkasink: read from offset %d: negative", from)
	}
	ends, err := s.adm.ListEndOffsets(ctx, s.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("kafkasink: listing end offsets of %q: %w", s.topic, err)
	}
	want := map[int32]int64{} // partition → end offset (exclusive)
	start := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Topic == s.topic && o.Offset > from && o.Offset > 0 {
			want[o.Partition] = o.Offset
			start[o.Partition] = kgo.NewOffset().At(from)
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(slices.Concat(s.opts, []kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: start}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // from below the start: begin at the start
	})...)
	if err != nil {
		return fmt.Errorf("kafkasink: consumer: %w", err)
	}
	defer cl.Close()
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kafkasink: reading %q: %w", s.topic, err)
		}
		for _, fe := range fetches.Errors() {
			return fmt.Errorf("kafkasink: reading %q partition %d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		var ferr error
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if ferr != nil || !ok || r.Offset >= end {
				return
			}
			if r.Offset >= from {
				ferr = fn(ingest.Position{Partition: r.Partition, Offset: r.Offset}, r.Value)
			}
			if r.Offset >= end-1 {
				delete(want, r.Partition)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}
