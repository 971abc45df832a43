package fasthttpengine

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/service"
)

// RegisterService mounts the seed's demo endpoints (/time, /json, /echo,
// /delay) on s as fasthttp handlers, with the same patterns (and so the
// same metric labels) as service.Routes; `hotpath serve` calls it, as it
// calls service.Register on the other engines. The logic is service's
// engine-neutral core; only the I/O differs. It panics like Handle.
func RegisterService(s *Server) {
	s.Handle("GET /time", timeHandler)
	s.Handle("GET /json", jsonHandler)
	s.Handle("POST /echo", echoHandler)
	s.Handle("GET /delay", delayHandler)
}

var (
	ctText       = []byte(service.ContentTypeText)
	ctJSON       = []byte(service.ContentTypeJSON)
	okBody       = []byte("ok\n")
	drainingBody = []byte("draining\n")
)

func timeHandler(ctx *fasthttp.RequestCtx) {
	var buf [24]byte
	ctx.Response.Header.SetContentTypeBytes(ctText)
	ctx.Response.SetBodyRaw(nil)
	ctx.Response.AppendBody(service.AppendUnixMilli(buf[:0], time.Now()))
}

func jsonHandler(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	// JSONBody is never modified, so the response may point at it.
	ctx.Response.SetBodyRaw(service.JSONBody)
}

func echoHandler(ctx *fasthttp.RequestCtx) {
	if ct := ctx.Request.Header.ContentType(); len(ct) > 0 {
		ctx.Response.Header.SetContentTypeBytes(ct)
	}
	ctx.Response.SetBody(ctx.Request.Body())
}

func delayHandler(ctx *fasthttp.RequestCtx) {
	d, err := service.ParseDelay(string(ctx.QueryArgs().Peek("ms")))
	if err != nil {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.Response.Header.SetContentTypeBytes(textPlain)
		ctx.Response.Header.SetBytesKV(hdrNosniff, valNosniff)
		ctx.Response.SetBodyString(err.Error() + "\n")
		return
	}
	if d > 0 {
		c := Context(ctx)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.Done():
			t.Stop()
			return
		}
	}
	ctx.Response.Header.SetContentTypeBytes(ctText)
	ctx.Response.SetBodyRaw(okBody)
}

// healthzHandler and readyzHandler are the probes, which New mounts.
func healthzHandler(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(ctText)
	ctx.Response.SetBodyRaw(okBody)
}

func readyzHandler(ready *service.Readiness) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentTypeBytes(ctText)
		if !ready.Ready() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.Response.SetBodyRaw(drainingBody)
			return
		}
		ctx.Response.SetBodyRaw(okBody)
	}
}
