package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// core is the built-in interceptor: request ID → metrics → recovery → auth
// → deadline, in one function rather than five chained ones, because each
// chained step costs a closure allocation and an indirect call per gRPC
// call, which the shared-port cost budget (≤ 1.11× bare grpc-go) cannot
// spare. Each concern keeps its own file; this file only sequences them.
type core struct {
	ids     *idGen
	echoID  bool          // send the request ID back as a response header
	metrics *metrics      // nil: no metrics
	rec     recoverer     //
	auth    *bearerAuth   // nil: no auth
	timeout time.Duration // 0: no cap
}

// unary is the gRPC unary interceptor; the gateway uses it too.
func (c *core) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	id := c.ids.requestID(ctx)
	if c.echoID {
		if gs, ok := grpc.ServerTransportStreamFromContext(ctx).(*gatewayStream); ok {
			gs.setRequestID(id) // the gateway writes the header itself
		} else {
			_ = grpc.SetHeader(ctx, metadata.MD{RequestIDKey: []string{id}}) // fails only without a transport stream
		}
	}
	ctx = context.WithValue(ctx, requestIDCtxKey{}, id)
	if c.metrics == nil {
		return c.guardedUnary(ctx, req, info, handler)
	}
	start := time.Now()
	c.metrics.inFlight.Inc()
	resp, err := c.guardedUnary(ctx, req, info, handler)
	c.metrics.observe(info.FullMethod, start, err)
	return resp, err
}

// guardedUnary is recovery, auth and deadline around the handler.
func (c *core) guardedUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.rec.report(info.FullMethod, v)
			resp, err = nil, errPanic
		}
	}()
	if c.auth != nil {
		if err := c.auth.check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
	}
	if c.capDeadline(ctx) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return handler(ctx, req)
}

// capDeadline reports whether the call's context needs the Timeout cap: it
// has one, and ctx has no deadline at or before now+timeout. A gateway call
// behind an HTTP engine with the same request timeout already has one, and
// is spared a second timer.
func (c *core) capDeadline(ctx context.Context) bool {
	if c.timeout <= 0 {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > c.timeout
}

// stream is the gRPC stream interceptor, the same steps as unary.
func (c *core) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	id := c.ids.requestID(ctx)
	if c.echoID {
		_ = ss.SetHeader(metadata.MD{RequestIDKey: []string{id}}) // fails only after headers were sent
	}
	ctx = context.WithValue(ctx, requestIDCtxKey{}, id)
	if c.metrics == nil {
		return c.guardedStream(ctx, srv, ss, info, handler)
	}
	start := time.Now()
	c.metrics.inFlight.Inc()
	err := c.guardedStream(ctx, srv, ss, info, handler)
	c.metrics.observe(info.FullMethod, start, err)
	return err
}

func (c *core) guardedStream(ctx context.Context, srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.rec.report(info.FullMethod, v)
			err = errPanic
		}
	}()
	if c.auth != nil {
		if err := c.auth.check(ctx, info.FullMethod); err != nil {
			return err
		}
	}
	if c.capDeadline(ctx) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
}
