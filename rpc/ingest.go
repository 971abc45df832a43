package rpc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hotpath-dev/hotpath/ingest"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// ingestService implements hotpathv1.IngestServiceServer over a Batcher:
// the same write path as HTTP POST /ingest.
type ingestService struct {
	hotpathv1.UnimplementedIngestServiceServer
	b *ingest.Batcher
}

// Ingest submits the event and answers once it is durable; ingestError
// maps a refusal to its code.
func (s ingestService) Ingest(ctx context.Context, req *hotpathv1.IngestRequest) (*hotpathv1.IngestResponse, error) {
	pos, err := s.b.Submit(ctx, req.GetEvent())
	if err != nil {
		return nil, ingestError(err, len(req.GetEvent()), s.b.Config().MaxEventBytes)
	}
	return &hotpathv1.IngestResponse{Offset: pos.Offset, Partition: pos.Partition}, nil
}

// ingestError maps Submit's error to a gRPC status: the client's mistakes
// are INVALID_ARGUMENT (with the limit), what a retry can fix is
// UNAVAILABLE (gRPC's retryable code; the sink's own error text stays in
// the server's logs and metrics), the call's own end is its context's
// code. size is the event's length, limit Config.MaxEventBytes.
func ingestError(err error, size, limit int) error {
	switch {
	case errors.Is(err, ingest.ErrEmpty):
		return status.Error(codes.InvalidArgument, "ingest: the event is empty")
	case errors.Is(err, ingest.ErrInvalidJSON):
		// The syntax error says where (a byte offset), nothing of the server.
		return status.Error(codes.InvalidArgument, err.Error()+" (--ingest-format json)")
	case errors.Is(err, ingest.ErrTooLarge):
		return status.Error(codes.InvalidArgument, fmt.Sprintf("ingest: the event is %d bytes, over the limit of %d bytes (--ingest-max-event-bytes)", size, limit))
	case errors.Is(err, ingest.ErrQueueFull):
		return status.Error(codes.Unavailable, "ingest: queue full, retry later")
	case errors.Is(err, ingest.ErrSinkUnavailable):
		return status.Error(codes.Unavailable, "ingest: sink unavailable, retry later")
	case errors.Is(err, ingest.ErrClosed):
		return status.Error(codes.Unavailable, "ingest: shutting down, retry later")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, "ingest: internal error")
}
