package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hotpath-dev/hotpath/serve"
	"github.com/hotpath-dev/hotpath/server"
)

// The default `hotpath serve` (net/http, the seed's routes, gRPC and its
// gateway on the same port, the admin listener) in a Go program.
func Example() {
	cfg := server.Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0"} // zero fields: serve's defaults
	s, err := serve.New(cfg, serve.Options{GRPC: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	c := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/time", "/v1/time"} {
		resp, err := c.Get("http://" + s.Addr().String() + path)
		if err != nil {
			fmt.Println(err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stop()              // SIGTERM's part: drain, then stop
	fmt.Println(<-done) // nil after a clean shutdown
	// Output:
	// /time 200 text/plain; charset=utf-8
	// /v1/time 200 application/json
	// <nil>
}
