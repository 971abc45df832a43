// Command fasthttp is a bare fasthttp server answering GET /time with the
// current Unix time in milliseconds (text/plain), and nothing else. It is the
// fixed target of scripts/bench-vs-wrk.sh: fast enough that the load
// generator, not the server, is what the comparison measures.
//
// -hardened gives it hotpath's default timeouts and header limit, mapped
// onto fasthttp.Server the way the fasthttp engine maps them (newServer has
// the details): the "hardened fasthttp" baseline of docs/engines.md.
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

// hotpath's defaults (server.Default*), written out rather than imported so
// that this binary links fasthttp and nothing else; TestHardenedMatchesHotpath
// holds them to the server package's values.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 20 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
)

// newServer returns the server: fasthttp's defaults (no timeouts, a 4 KiB
// read buffer, which caps the headers) or, if hardened, hotpath's defaults
// mapped as the fasthttp engine maps them:
//   - read-header 5 s: ReadTimeout, the deadline set when a request starts;
//   - read 15 s: HeaderReceived moves that deadline to 15 s once the headers
//     are in (fasthttp has no separate header timeout);
//   - write 20 s: WriteTimeout; idle 2 m: IdleTimeout;
//   - 16 KiB of headers: ReadBufferSize 16 KiB + 4 KiB, as fasthttp caps the
//     header with its read buffer and net/http allows MaxHeaderBytes plus
//     4 KiB of slack. fasthttp has no exact header-byte limit.
//
// The body limit stays fasthttp's (4 MiB): the hardened net/http baseline
// has none either, and GET /time reads no body.
func newServer(hardened bool) *fasthttp.Server {
	srv := &fasthttp.Server{Handler: handler, Name: "bare-fasthttp"}
	if hardened {
		srv.ReadTimeout = readHeaderTimeout
		srv.HeaderReceived = bodyReadTimeout
		srv.WriteTimeout = writeTimeout
		srv.IdleTimeout = idleTimeout
		srv.ReadBufferSize = maxHeaderBytes + 4096
	}
	return srv
}

func bodyReadTimeout(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{ReadTimeout: readTimeout}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	hardened := flag.Bool("hardened", false, "hotpath's default timeouts and header limit (read-header 5s, read 15s, write 20s, idle 2m, 16 KiB headers)")
	flag.Parse()
	srv := newServer(*hardened)
	if err := srv.ListenAndServe(*addr); err != nil {
		fmt.Fprintf(os.Stderr, "bare-fasthttp: %v\n", err)
		os.Exit(1)
	}
}
