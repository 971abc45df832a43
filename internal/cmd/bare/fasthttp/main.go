// Command fasthttp is a bare fasthttp server answering GET /time with the
// current Unix time in milliseconds (text/plain), and nothing else. It is the
// fixed target of scripts/bench-vs-wrk.sh: fast enough that the load
// generator, not the server, is what the comparison measures.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

func handler(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != "/time" {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(strconv.AppendInt(ctx.Response.Body()[:0], time.Now().UnixMilli(), 10))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	srv := &fasthttp.Server{Handler: handler, Name: "bare-fasthttp"}
	if err := srv.ListenAndServe(*addr); err != nil {
		fmt.Fprintf(os.Stderr, "bare-fasthttp: %v\n", err)
		os.Exit(1)
	}
}
