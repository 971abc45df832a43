package portmux

import (
	"context"
	"net"
	"net/http"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

type benchTime struct {
	hotpathv1.UnimplementedTimeServiceServer
}

func (benchTime) Now(context.Context, *hotpathv1.NowRequest) (*hotpathv1.NowResponse, error) {
	return &hotpathv1.NowResponse{UnixMs: 1}, nil
}

// BenchmarkUnaryNow compares a unary call to a bare grpc-go server with the
// same call through a shared port (client and server in this process, so
// ns/op covers both; hotpath lab's gateway scenario measures server CPU alone).
func BenchmarkUnaryNow(b *testing.B) {
	for _, mode := range []string{"bare", "mux"} {
		b.Run(mode, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			gs := grpc.NewServer()
			hotpathv1.RegisterTimeServiceServer(gs, benchTime{})
			gl := ln
			var hs *http.Server
			if mode == "mux" {
				var hl net.Listener
				gl, hl = Split(ln, Options{})
				hs = &http.Server{Handler: http.NotFoundHandler()}
				go func() { _ = hs.Serve(hl) }()
			}
			go func() { _ = gs.Serve(gl) }()
			defer func() {
				gs.Stop()
				if hs != nil {
					_ = hs.Close()
				}
			}()
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c := hotpathv1.NewTimeServiceClient(conn)
			ctx := context.Background()
			if _, err := c.Now(ctx, &hotpathv1.NowRequest{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Now(ctx, &hotpathv1.NowRequest{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
