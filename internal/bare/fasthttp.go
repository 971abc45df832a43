package bare

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

func fastHandler(ctx *fasthttp.RequestCtx) {
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

// newFastHTTP returns the fasthttp server: fasthttp's defaults (no timeouts,
// a 4 KiB read buffer, which caps the headers) or, if hardened, hotpath's
// defaults mapped as the fasthttp engine maps them:
//   - read-header 5 s: ReadTimeout, the deadline set when a request starts;
//   - read 15 s: HeaderReceived moves that deadline to 15 s once the headers
//     are in (fasthttp has no separate header timeout);
//   - write 20 s: WriteTimeout; idle 2 m: IdleTimeout;
//   - 16 KiB of headers: ReadBufferSize 16 KiB + 4 KiB, as fasthttp caps the
//     header with its read buffer and net/http allows MaxHeaderBytes plus
//     4 KiB of slack.
func newFastHTTP(hardened bool) *fasthttp.Server {
	srv := &fasthttp.Server{Handler: fastHandler, Name: "bare-fasthttp"}
	if hardened {
		srv.ReadTimeout = readHeaderTimeout
		srv.HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: readTimeout}
		}
		srv.WriteTimeout = writeTimeout
		srv.IdleTimeout = idleTimeout
		srv.ReadBufferSize = maxHeaderBytes + 4096
	}
	return srv
}

func serveFastHTTP(ctx context.Context, ln net.Listener, hardened bool) error {
	srv := newFastHTTP(hardened)
	stop := context.AfterFunc(ctx, func() { _ = srv.Shutdown() })
	defer stop()
	err := srv.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
