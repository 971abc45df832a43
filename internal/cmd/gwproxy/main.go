// Command gwproxy is the seed's setup for scripts/grpc-cost.sh: grpc-gateway
// as a separate reverse-proxy process translating HTTP/JSON to gRPC and
// calling a gRPC backend over the network (the second hop hotpath's
// in-process gateway avoids). It serves until SIGINT or SIGTERM.
//
// Its tests also hold BenchmarkTranscode, the in-process comparison of the
// candidate HTTP/JSON transcoders behind docs/grpc.md (hotpath's protojson
// gateway, grpc-gateway, vanguard over grpc.Server.ServeHTTP):
//
//	go test -run '^$' -bench . -benchmem -count 6 -cpu 1 ./internal/cmd/gwproxy
//
// hotpathv1 holds the grpc-gateway code generated for hotpath.v1
// (scripts/gen-proto.sh). grpc-gateway and vanguard are in hotpath's go.mod
// for this package only: the hotpath binary links neither.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gw "github.com/hotpath-dev/hotpath/internal/cmd/gwproxy/hotpathv1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "HTTP listen address")
	backend := flag.String("backend", "127.0.0.1:9090", "gRPC backend address")
	flag.Parse()
	if err := run(*addr, *backend); err != nil {
		fmt.Fprintln(os.Stderr, "gwproxy:", err)
		os.Exit(1)
	}
}

// handler returns the grpc-gateway mux proxying TimeService and EchoService
// to backend.
func handler(ctx context.Context, backend string) (http.Handler, error) {
	mux := gwruntime.NewServeMux()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if err := gw.RegisterTimeServiceHandlerFromEndpoint(ctx, mux, backend, opts); err != nil {
		return nil, err
	}
	if err := gw.RegisterEchoServiceHandlerFromEndpoint(ctx, mux, backend, opts); err != nil {
		return nil, err
	}
	return mux, nil
}

func run(addr, backend string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	h, err := handler(ctx, backend)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("grpc-gateway proxy on %s -> %s (pid %d)\n", ln.Addr(), backend, os.Getpid())
	// SIGUSR1 prints cumulative heap allocations, as the bare servers do,
	// for scripts/grpc-cost.sh's allocations per request.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for {
		select {
		case <-usr1:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("allocs %d %d\n", ms.Mallocs, ms.TotalAlloc)
		case <-ctx.Done():
			return hs.Close()
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		}
	}
}
