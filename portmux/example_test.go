package portmux_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hotpath-dev/hotpath/portmux"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"github.com/hotpath-dev/hotpath/rpc"
)

// gRPC and HTTP/JSON on one port: portmux routes gRPC connections to
// grpc-go's own transport and the rest to net/http, where the gateway
// answers the same methods in JSON.
func Example_sharedPort() {
	clock := func() time.Time { return time.UnixMilli(1764000000123) }
	rs, err := rpc.New(rpc.Config{Now: clock, ServerOptions: []grpc.ServerOption{grpc.Creds(portmux.Credentials())}}, nil)
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	grpcL, httpL := portmux.Split(ln, portmux.Options{})
	go func() { _ = rs.Serve(grpcL) }()
	hs := &http.Server{Handler: rs.Gateway(), ConnContext: portmux.ConnContext, ReadHeaderTimeout: time.Second}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = hs.Serve(httpL) }()
	defer func() { rs.Stop(); _ = hs.Close() }()

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	now, err := hotpathv1.NewTimeServiceClient(conn).Now(context.Background(), &hotpathv1.NowRequest{})
	if err != nil {
		panic(err)
	}
	fmt.Println("gRPC:", now.GetUnixMs())

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/v1/time")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println("JSON:", string(body))
	// Output:
	// gRPC: 1764000000123
	// JSON: {"unixMs":"1764000000123"}
}
