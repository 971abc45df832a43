// Package rpcgateway serves package rpc's HTTP/JSON gateway (GET /v1/time,
// POST /v1/echo) on the fasthttp engine: a fasthttp.RequestHandler over
// rpc.Gateway.Transcode, with no net/http request or fasthttpadaptor in
// between. It lives under the fasthttp engine so that only that tree
// imports fasthttp.
package rpcgateway

import (
	"bytes"
	"context"
	"sync"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/rpc"
)

// Transcoder is the engine-neutral gateway the handler drives;
// *rpc.Gateway is one.
type Transcoder interface {
	Transcode(ctx context.Context, c *rpc.Call, dst []byte) []byte
}

// Handler returns a handler that serves each request as a call of t.
//
// The request headers become incoming metadata (rpc.Call.AddHeader's rules:
// lower-case names, hop-by-hop headers, Content-Length, Grpc-Timeout and
// Host left out). Served by fasthttpengine, the request ID its chain chose
// (fasthttpengine.RequestID) replaces any incoming X-Request-Id as the
// x-request-id metadata, so the gRPC interceptors reuse it and the response
// carries it once; the call's context is fasthttpengine.Context (request
// deadline, cancelled when the client leaves or the handler returns). The
// body is ctx.PostBody(): fasthttp has already refused a body over
// MaxRequestBodySize with its own 413 before any handler runs.
//
// The answer is JSON (Content-Type: application/json; errors are a
// google.rpc.Status with X-Content-Type-Options: nosniff and, for 405,
// Allow); response metadata replaces response headers of the same name.
//
// Buffers: each request borrows a pooled rpc.Call and output buffer, and
// returns them before the handler returns; the body is copied into the
// response, so nothing the handler hands fasthttp refers to pooled memory.
// Strings in the metadata are copies (one allocation for all headers), valid
// for as long as a handler keeps them.
func Handler(t Transcoder) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { serve(t, ctx) }
}

// call is the pooled state of one request.
type call struct {
	rpc.Call
	out []byte // the response body buffer, kept between requests
}

var callPool = sync.Pool{New: func() any { return new(call) }}

// maxPooledOut is the largest output buffer kept for reuse.
const maxPooledOut = 64 << 10

var (
	hdrRequestID = []byte("X-Request-Id")
	hdrNosniff   = []byte("X-Content-Type-Options")
	valNosniff   = []byte("nosniff")
	ctJSON       = []byte("application/json")
)

func serve(t Transcoder, ctx *fasthttp.RequestCtx) {
	p := callPool.Get().(*call)
	c := &p.Call
	c.Method = methodString(ctx.Method())
	// Transcode keeps no reference to Path, and ctx.Path() stays valid
	// until this handler returns: no copy needed.
	if path := ctx.Path(); len(path) > 0 {
		c.Path = unsafe.String(&path[0], len(path))
	}
	id := fasthttpengine.RequestID(ctx)
	for k, v := range ctx.Request.Header.All() {
		if id != nil && bytes.EqualFold(k, hdrRequestID) {
			continue // the engine's ID replaces it (the same one when it was valid)
		}
		c.AddHeader(k, v)
	}
	if id != nil {
		c.AddHeader(hdrRequestID, id)
	}
	c.Body = ctx.PostBody()

	out := t.Transcode(fasthttpengine.Context(ctx), c, p.out[:0])

	h := &ctx.Response.Header
	if c.RequestID != "" {
		h.Set("X-Request-Id", c.RequestID) // the chain set the same ID; a handler's own may follow
	}
	c.EachHeader(func(k string, vs []string) {
		h.Set(k, vs[0]) // Set, not Add: replaces the chain's X-Request-Id
		for _, v := range vs[1:] {
			h.Add(k, v)
		}
	})
	if c.Allow != "" {
		h.Set("Allow", c.Allow)
	}
	h.SetContentTypeBytes(ctJSON)
	if c.Status != fasthttp.StatusOK {
		h.SetBytesKV(hdrNosniff, valNosniff)
	}
	ctx.SetStatusCode(c.Status)
	ctx.Response.SetBody(out) // a copy into fasthttp's own buffer
	p.out = out[:0]
	if cap(out) > maxPooledOut { // a large echo must not stay pinned in the pool
		p.out = nil
	}
	c.Reset()
	callPool.Put(p)
}

// methodString returns the common methods as constants, without allocating.
func methodString(m []byte) string {
	switch string(m) {
	case fasthttp.MethodGet:
		return fasthttp.MethodGet
	case fasthttp.MethodPost:
		return fasthttp.MethodPost
	case fasthttp.MethodHead:
		return fasthttp.MethodHead
	case fasthttp.MethodPut:
		return fasthttp.MethodPut
	case fasthttp.MethodDelete:
		return fasthttp.MethodDelete
	case fasthttp.MethodPatch:
		return fasthttp.MethodPatch
	case fasthttp.MethodOptions:
		return fasthttp.MethodOptions
	}
	return string(m)
}
