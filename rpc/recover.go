package rpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errPanic is what a client sees when a handler panicked: no panic value or
// stack leaves the process.
var errPanic = status.Error(codes.Internal, "internal error")

// recoverer turns handler panics into INTERNAL and reports them to onPanic.
type recoverer struct {
	onPanic func(method string, recovered any, stack []byte)
}

func (r recoverer) report(method string, v any) {
	if r.onPanic != nil {
		r.onPanic(method, v, stack())
	}
}

func (r recoverer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.report(info.FullMethod, v)
			resp, err = nil, errPanic
		}
	}()
	return handler(ctx, req)
}

func (r recoverer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.report(info.FullMethod, v)
			err = errPanic
		}
	}()
	return handler(srv, ss)
}
