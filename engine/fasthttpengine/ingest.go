package fasthttpengine

import (
	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/ingest"
)

// RegisterIngest mounts POST /ingest on s, storing each request body as
// one event through b: the fasthttp twin of ingest.Handler, with the same
// statuses (ingest.Status: 202, 400, 413, 503 with Retry-After: 1), headers
// (Content-Type: application/json) and bodies ({"offset":N}, or
// {"error":"…"}). It sits behind the engine's policy chain like every
// route, so a body over Config.MaxBodyBytes is 413 before it runs. Submit
// reads the request body in place: fasthttp keeps it until the handler
// returns, which is after Submit has returned, so nothing is copied here
// (the batcher copies the event into its batch). It panics like Handle.
func RegisterIngest(s *Server, b *ingest.Batcher) {
	if b == nil {
		panic("hotpath: fasthttpengine.RegisterIngest needs a non-nil *ingest.Batcher")
	}
	s.Handle("POST /ingest", ingestHandler(b))
}

var retryAfterOne = []byte("1")

func ingestHandler(b *ingest.Batcher) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		// fasthttp has read the whole body (at most MaxBodyBytes) before
		// the chain ran; Submit refuses (and counts) one over MaxEventBytes.
		pos, err := b.Submit(Context(ctx), ctx.Request.Body())
		status, retryAfter := ingest.Status(err)
		ctx.SetStatusCode(status)
		ctx.Response.Header.SetContentTypeBytes(ctJSON)
		if retryAfter != "" {
			ctx.Response.Header.SetBytesKV(hdrRetry, retryAfterOne)
		}
		var buf [64]byte
		ctx.Response.SetBodyRaw(nil)
		if err == nil {
			ctx.Response.AppendBody(b.AppendAccepted(buf[:0], pos))
		} else {
			ctx.Response.AppendBody(ingest.AppendError(buf[:0], err))
		}
	}
}
