package rpc

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/hotpath-dev/hotpath/internal/lazyctx"
	"github.com/hotpath-dev/hotpath/internal/policy"
)

// core is the built-in interceptor: request ID → metrics → recovery → rate
// limit → auth → deadline, in one function rather than five chained ones, because each
// chained step costs a closure allocation and an indirect call per gRPC
// call, which the shared-port cost budget (≤ 1.11× bare grpc-go) cannot
// spare. Each concern keeps its own file; this file only sequences them.
type core struct {
	echoID  bool                // send the request ID back as a response header
	metrics *metrics            // nil: no metrics
	rec     recoverer           //
	auth    *bearerAuth         // nil: no auth
	limiter *policy.RateLimiter // nil: no rate limit
	timeout time.Duration       // 0: no cap
}

// unary is the gRPC unary interceptor; the gateway uses it too.
func (c *core) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	id := requestID(ctx)
	if c.echoID {
		// One stream lookup (grpc.SetHeader would make a second one).
		switch st := grpc.ServerTransportStreamFromContext(ctx).(type) {
		case *gatewayStream:
			st.setRequestID(id) // the gateway writes the header itself: no metadata map
		case nil: // called without a transport stream: no response to carry it
		default:
			_ = st.SetHeader(metadata.MD{RequestIDKey: []string{id}}) // fails only after headers were sent
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

// guardedUnary is recovery, rate limit (native calls only), auth and
// deadline around the handler.
func (c *core) guardedUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.rec.report(info.FullMethod, v)
			resp, err = nil, errPanic
		}
	}()
	if c.limiter != nil {
		if _, gw := grpc.ServerTransportStreamFromContext(ctx).(*gatewayStream); !gw {
			if err := c.limit(ctx); err != nil {
				return nil, err
			}
		}
	}
	if c.auth != nil {
		if err := c.auth.check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
	}
	if dl, ok := c.capDeadline(ctx); ok {
		lc := lazyctx.New(ctx, dl, nil)
		defer lc.End()
		ctx = lc
	}
	return handler(ctx, req)
}

// capDeadline returns the deadline the Timeout cap gives a call: now+Timeout
// when there is a cap and ctx has no deadline at or before it. A gRPC call
// already has one (admission.tap set it when the stream opened), and so
// has a gateway call behind an HTTP engine with the same request timeout;
// a gateway call without either gets it here. The capped context is a
// lazyctx: its timer starts only if the handler waits on it, so a call
// that never waits pays no runtime timer.
func (c *core) capDeadline(ctx context.Context) (time.Time, bool) {
	if c.timeout <= 0 {
		return time.Time{}, false
	}
	want := time.Now().Add(c.timeout)
	if dl, ok := ctx.Deadline(); ok && !dl.After(want) {
		return time.Time{}, false
	}
	return want, true
}

// stream is the gRPC stream interceptor, the same steps as unary.
func (c *core) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	id := requestID(ctx)
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
	if c.limiter != nil {
		if err := c.limit(ctx); err != nil {
			return err
		}
	}
	if c.auth != nil {
		if err := c.auth.check(ctx, info.FullMethod); err != nil {
			return err
		}
	}
	if dl, ok := c.capDeadline(ctx); ok {
		lc := lazyctx.New(ctx, dl, nil)
		defer lc.End()
		ctx = lc
	}
	return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
}

// limit takes a token of the calling client (its connection's peer
// address, as the HTTP side keys by the remote address) or refuses the
// call with RESOURCE_EXHAUSTED (what grpc-gateway maps to 429) and a
// retry-after header in seconds, as the HTTP side's 429 carries.
func (c *core) limit(ctx context.Context) error {
	var remote string
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	addr, _ := policy.ClientIP(remote, "", "")
	var buf [64]byte
	ok, wait := c.limiter.AllowBytes(policy.AppendClientKey(buf[:0], addr, c.limiter.Config().IPv6Prefix), time.Now())
	if ok {
		return nil
	}
	secs := policy.RetryAfterSeconds(wait)
	_ = grpc.SetHeader(ctx, metadata.Pairs("retry-after", strconv.Itoa(secs)))
	return status.Errorf(codes.ResourceExhausted, "rate limit exceeded: retry in %d s", secs)
}
