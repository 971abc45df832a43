// Package ingest is the seed's asynchronous batch stage as a real write
// path: handlers Submit events, a Batcher groups them (BatchSize events or
// BatchWait, whichever comes first) and writes each group to a Sink as one
// write (one fsync, one produce request), and each Submit returns only once
// its event is durable. Sinks live in sub-packages (ingest/filelog, the
// embedded default; ingest/kafkasink, Kafka through franz-go); ingest/sinkuri
// opens one from a --ingest-sink URI.
package ingest

import "context"

// Position is where a sink stored one event. Offset is the event's offset:
// for the file log, the record's index from the log's start (0, 1, 2, …);
// for Kafka, the record's offset in Partition. Partition is 0 for sinks
// without partitions.
type Position struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// Sink stores batches of events durably. A Batcher calls Append from one
// goroutine at a time; Close may be called concurrently with nothing else.
type Sink interface {
	// Append stores events in order as one write and returns once all of
	// them are durable (for the file log: written and fsynced per its fsync
	// policy; for Kafka: acknowledged by the brokers with acks=all). It
	// returns one Position per event, in order. On error none of the events
	// may be reported as stored, and the sink must stay usable: a later
	// Append must not be corrupted by a failed one (the file log cuts a
	// partial write off). Append does not keep events or their bytes after
	// it returns. ctx bounds the wait; a sink may finish a write it started.
	Append(ctx context.Context, events [][]byte) ([]Position, error)
	// Close flushes and releases the sink. Append must not be called after.
	Close() error
}
