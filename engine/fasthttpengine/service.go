package fasthttpengine

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/service"
)

// serviceRoute is one of the seed's endpoints on fasthttp.
type serviceRoute struct {
	pattern string
	h       fasthttp.RequestHandler
}

// serviceRoutes are package service's endpoints as fasthttp handlers, with the
// same patterns (and so the same metric labels) as service.Routes. The logic
// is service's engine-neutral core; only the I/O differs.
func serviceRoutes(ready *service.Readiness) []serviceRoute {
	return []serviceRoute{
		{"GET /time", timeHandler},
		{"GET /json", jsonHandler},
		{"POST /echo", echoHandler},
		{"GET /delay", delayHandler},
		{"GET /healthz", healthzHandler},
		{"GET /readyz", readyzHandler(ready)},
	}
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
