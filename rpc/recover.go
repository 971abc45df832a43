package rpc

import (
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
