package fasthttpengine_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/server"
)

// A Go user mounts an engine-native fasthttp.RequestHandler. It runs behind
// the same default chain as the service's endpoints (request ID, metrics,
// load shedding, timeout, recovery) and is labelled "GET /hello" in metrics.
// fasthttpengine.Context gives it a context that ends when the client
// disconnects or the request times out.
func Example() {
	s, err := fasthttpengine.New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff})
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Handle("GET /hello", func(ctx *fasthttp.RequestCtx) {
		if err := fasthttpengine.Context(ctx).Err(); err != nil {
			return // client gone or deadline passed
		}
		ctx.SetContentType("text/plain; charset=utf-8")
		fmt.Fprintf(ctx, "hello, %s\n", ctx.QueryArgs().Peek("name"))
	})
	if err := s.Listen(); err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get("http://" + s.Addr().String() + "/hello?name=gopher")
	if err != nil {
		fmt.Println(err)
		stop()
		<-done
		return
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Print(res.StatusCode, " ", string(body))
	fmt.Println(len(res.Header.Get("X-Request-ID")) > 0)

	stop()
	fmt.Println(<-done)
	// Output:
	// 200 hello, gopher
	// true
	// <nil>
}
