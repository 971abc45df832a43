package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
)

// deadliner caps each call at max. The client's own deadline (grpc-timeout,
// or the gateway's Grpc-Timeout header) is already on the context; the call
// keeps whichever is earlier.
type deadliner struct{ max time.Duration }

func (d deadliner) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, d.max)
	defer cancel()
	return handler(ctx, req)
}

func (d deadliner) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithTimeout(ss.Context(), d.max)
	defer cancel()
	return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
}
