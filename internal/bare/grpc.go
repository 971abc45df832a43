package bare

import (
	"context"
	"net"
	"time"

	"google.golang.org/grpc"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// grpcStopGrace bounds GracefulStop: calls still running after it are cut
// off (Stop).
const grpcStopGrace = 5 * time.Second

// bareTime is hotpath.v1.TimeService with nothing around it: Now answers the
// current Unix time in milliseconds, as rpc's service does.
type bareTime struct {
	hotpathv1.UnimplementedTimeServiceServer
}

func (bareTime) Now(context.Context, *hotpathv1.NowRequest) (*hotpathv1.NowResponse, error) {
	return &hotpathv1.NowResponse{UnixMs: time.Now().UnixMilli()}, nil
}

// newGRPC returns grpc-go's server on its defaults — no interceptors, no
// limits, no health or reflection service — serving TimeService only.
func newGRPC() *grpc.Server {
	gs := grpc.NewServer()
	hotpathv1.RegisterTimeServiceServer(gs, bareTime{})
	return gs
}

// serveGRPC serves hotpath.v1.TimeService on ln until ctx is done, then
// stops gracefully (grpcStopGrace at most, then Stop) and returns nil once
// every connection is gone.
func serveGRPC(ctx context.Context, ln net.Listener) error {
	return serveGRPCServer(ctx, ln, newGRPC(), grpcStopGrace)
}

// serveGRPCServer is serveGRPC for any gs and grace (tests use a shorter
// grace and a call that never ends).
func serveGRPCServer(ctx context.Context, ln net.Listener, gs *grpc.Server, grace time.Duration) error {
	stopped := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(stopped)
		graceful := make(chan struct{})
		go func() { gs.GracefulStop(); close(graceful) }()
		select {
		case <-graceful:
		case <-time.After(grace):
			gs.Stop()
			<-graceful
		}
	})
	err := gs.Serve(ln)
	if !stop() {
		<-stopped
		return nil // Serve returns nil after (Graceful)Stop; ctx asked for it
	}
	gs.Stop() // Serve failed on its own: release what it holds
	return err
}
