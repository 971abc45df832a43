// Command timedbare is a bare fasthttp /time server with the fasthttp
// engine's default timeouts (read-header, read, write and idle, set the way
// the engine sets them) and nothing else. scripts/engine-cost.sh compares the
// engine with it to separate what the middleware chain costs from what the
// hardened timeouts cost: each timeout is a socket deadline set per request,
// and every deadline reads the clock.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("timedbare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := newServer().ListenAndServe(*addr); err != nil {
		fmt.Fprintf(stderr, "timedbare: %v\n", err)
		return 1
	}
	return 0
}

func newServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:        handler,
		ReadTimeout:    server.DefaultReadHeaderTimeout,
		HeaderReceived: headerReceived,
		WriteTimeout:   server.DefaultWriteTimeout,
		IdleTimeout:    server.DefaultIdleTimeout,
	}
}

func headerReceived(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{ReadTimeout: server.DefaultReadTimeout}
}

func handler(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != "/time" {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(strconv.AppendInt(ctx.Response.Body()[:0], time.Now().UnixMilli(), 10))
}
