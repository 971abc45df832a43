package rpc

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// timeService implements hotpathv1.TimeServiceServer.
type timeService struct {
	hotpathv1.UnimplementedTimeServiceServer
	now func() time.Time
}

// Now returns the clock in Unix milliseconds.
func (s *timeService) Now(context.Context, *hotpathv1.NowRequest) (*hotpathv1.NowResponse, error) {
	return &hotpathv1.NowResponse{UnixMs: s.now().UnixMilli()}, nil
}

// echoService implements hotpathv1.EchoServiceServer.
type echoService struct {
	hotpathv1.UnimplementedEchoServiceServer
}

// Echo returns the payload and the request metadata.
func (echoService) Echo(ctx context.Context, req *hotpathv1.EchoRequest) (*hotpathv1.EchoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return &hotpathv1.EchoResponse{Message: req.GetMessage(), Data: req.GetData(), Metadata: flatten(md)}, nil
}

// EchoStream sends back each received message until the client closes its
// side. It holds at most one message at a time, so its memory is bounded by
// the message size limit whatever the stream's length; HTTP/2 flow control
// stops a fast sender while Send waits for a slow reader.
func (echoService) EchoStream(stream hotpathv1.EchoService_EchoStreamServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&hotpathv1.EchoResponse{Message: req.GetMessage(), Data: req.GetData()}); err != nil {
			return err
		}
	}
}

// flatten turns metadata into one string per key, values joined by ", ",
// without binary ("-bin") keys. It returns nil for empty metadata.
func flatten(md metadata.MD) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, vs := range md {
		if strings.HasSuffix(k, "-bin") {
			continue
		}
		out[k] = strings.Join(vs, ", ")
	}
	return out
}
