package rpc

import (
	"context"

	"google.golang.org/grpc"
)

// chainUnary folds interceptors into one, first = outermost. The gateway and
// the gRPC server are given the same folded interceptor, so a JSON call and a
// gRPC call go through identical code. A single interceptor is returned as
// is (no per-call closures).
func chainUnary(ics []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	if len(ics) == 1 {
		return ics[0]
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return unaryStep(ics, 0, info, handler)(ctx, req)
	}
}

func unaryStep(ics []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ics) {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return ics[i](ctx, req, info, unaryStep(ics, i+1, info, final))
	}
}

// chainStream folds stream interceptors into one, first = outermost.
func chainStream(ics []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	if len(ics) == 1 {
		return ics[0]
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return streamStep(ics, 0, info, handler)(srv, ss)
	}
}

func streamStep(ics []grpc.StreamServerInterceptor, i int, info *grpc.StreamServerInfo, final grpc.StreamHandler) grpc.StreamHandler {
	if i == len(ics) {
		return final
	}
	return func(srv any, ss grpc.ServerStream) error {
		return ics[i](srv, ss, info, streamStep(ics, i+1, info, final))
	}
}

// ctxStream is a ServerStream whose Context is replaced, so stream
// interceptors can hand derived contexts (request ID, deadline) down.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }
