package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hotpath-dev/hotpath/rpc/httpstatus"
)

// Call is one HTTP/JSON request for Gateway.Transcode and, once Transcode
// has returned, its answer. It is the engine-neutral form of a gateway
// request: an adapter for an HTTP engine fills in the request fields, calls
// Transcode and writes the answer out (ServeHTTP is the net/http adapter).
//
// The zero value is an empty request. A Call is not safe for concurrent use;
// Reset makes it reusable, keeping its buffers, so adapters may pool Calls.
type Call struct {
	// Method is the HTTP method. HEAD is served as GET (the adapter drops
	// the body).
	Method string
	// Path is the URL path, without the query.
	Path string
	// ContentType and Timeout are the Content-Type and Grpc-Timeout request
	// headers, "" when absent. AddHeader sets them when it sees them.
	ContentType, Timeout string
	// Metadata is incoming metadata: lower-case keys, hop-by-hop headers,
	// Content-Length and Grpc-Timeout left out (the rules of AddHeader).
	// Transcode merges in what AddHeader collected and never modifies the
	// map; handlers see it, through package metadata's copies, for as long
	// as they keep the call's context, so neither the map nor its value
	// slices may be modified afterwards. Nil means none.
	Metadata metadata.MD
	// Body is the whole request body. It is read only for methods that take
	// a body, and only during Transcode. Ignored when BodyReader is set.
	Body []byte
	// BodyReader, if not nil, is read instead of Body, up to the gateway's
	// body limit plus one byte and only for methods that take a body. A read
	// failing with *http.MaxBytesError answers 413, any other failure 400.
	BodyReader io.Reader

	// Status is the HTTP status of the answer: 200, or the status of an
	// error whose body is a google.rpc.Status (send it with
	// X-Content-Type-Options: nosniff).
	Status int
	// Allow is the Allow header of a 405, "" otherwise.
	Allow string
	// RequestID is the call's request ID, to send as the X-Request-Id
	// response header before the headers of EachHeader (which may replace
	// it); "" when the interceptors did not set one (NoRequestIDHeader).
	RequestID string

	respMD metadata.MD // response metadata from the handler and interceptors

	// AddHeader's arena: names and values are appended to hdrBuf and turned
	// into one string when Transcode starts.
	hdrBuf         []byte
	hdrs           []hdrSpan
	ctSpan, toSpan span
	hdrStr         string
	prepared       bool
}

// span is a range of Call.hdrBuf; end 0 means unset.
type span struct{ start, end int32 }

// hdrSpan is one header collected by AddHeader. key is the interned
// metadata key of a common header, or "" when the key is name in hdrBuf.
type hdrSpan struct {
	key         string
	name, value span
}

// Reset clears c for another request, keeping its buffers. Strings and
// maps handed out by an earlier Transcode (Metadata, EachHeader's values)
// stay valid: Reset never writes to memory they use.
func (c *Call) Reset() {
	*c = Call{hdrBuf: c.hdrBuf[:0], hdrs: c.hdrs[:0]}
}

// AddHeader adds one request header, with a name in any case, to the
// call: Content-Type and Grpc-Timeout set ContentType and Timeout; every
// header but the hop-by-hop ones (Connection, Keep-Alive, Proxy-Connection,
// Te, Transfer-Encoding, Upgrade), Content-Length, Grpc-Timeout and Host
// becomes incoming metadata under its lower-case name, values of repeated
// names in order. name and value are copied: the caller may reuse them once
// AddHeader returns. All headers of a Call cost one string allocation,
// made by Transcode, for all names and values together.
func (c *Call) AddHeader(name, value []byte) {
	key, known := headerKeys[string(name)] // no allocation: a map index by converted bytes
	var ns span
	if !known {
		ns.start = int32(len(c.hdrBuf))
		for _, b := range name {
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			c.hdrBuf = append(c.hdrBuf, b)
		}
		ns.end = int32(len(c.hdrBuf))
		if k, ok := headerKeys[string(c.hdrBuf[ns.start:ns.end])]; ok {
			key, known = k, true
			c.hdrBuf = c.hdrBuf[:ns.start]
			ns = span{}
		}
	}
	if known && key.drop && !key.timeout {
		return
	}
	vs := span{start: int32(len(c.hdrBuf))}
	c.hdrBuf = append(c.hdrBuf, value...)
	vs.end = int32(len(c.hdrBuf))
	switch {
	case key.timeout:
		c.toSpan = vs
		return
	case key.contentType:
		c.ctSpan = vs
	}
	c.hdrs = append(c.hdrs, hdrSpan{key: key.name, name: ns, value: vs})
}

// headerKey is what AddHeader knows about a header name.
type headerKey struct {
	name                 string // the metadata key
	drop                 bool   // not passed on as metadata
	timeout, contentType bool
}

// headerKeys holds the canonical and lower-case spellings of common
// request headers, so that most headers need no lower-casing, and of those
// that are not passed on.
var headerKeys = func() map[string]headerKey {
	m := map[string]headerKey{}
	add := func(canonical string, k headerKey) {
		k.name = strings.ToLower(canonical)
		m[canonical], m[k.name] = k, k
	}
	for k := range lowerNames {
		add(k, headerKey{contentType: k == "Content-Type"})
	}
	for k := range hopHeaders {
		add(k, headerKey{drop: true, timeout: k == "Grpc-Timeout"})
	}
	// net/http keeps Host out of Request.Header; so does AddHeader, for the
	// same metadata on every engine.
	add("Host", headerKey{drop: true})
	return m
}()

// prepare turns the headers collected by AddHeader into strings: one
// allocation for all of them.
func (c *Call) prepare() {
	if c.prepared {
		return
	}
	c.prepared = true
	if len(c.hdrBuf) > 0 {
		c.hdrStr = string(c.hdrBuf)
	}
	if c.ctSpan.end > 0 {
		c.ContentType = c.str(c.ctSpan)
	}
	if c.toSpan.end > 0 {
		c.Timeout = c.str(c.toSpan)
	}
}

func (c *Call) str(s span) string { return c.hdrStr[s.start:s.end] }

// metadata returns Metadata merged with AddHeader's headers: one map and one
// value array for all of them.
func (c *Call) metadata() metadata.MD {
	if len(c.hdrs) == 0 {
		return c.Metadata
	}
	md := make(metadata.MD, len(c.Metadata)+len(c.hdrs))
	for k, vs := range c.Metadata {
		md[k] = vs
	}
	vals := make([]string, len(c.hdrs))
	for i, h := range c.hdrs {
		key := h.key
		if key == "" {
			key = c.str(h.name)
		}
		vals[i] = c.str(h.value)
		if prev, ok := md[key]; ok {
			md[key] = append(prev[:len(prev):len(prev)], vals[i]) // a copy: vals' next slot belongs to the next header
			continue
		}
		md[key] = vals[i : i+1 : i+1]
	}
	return md
}

// EachHeader calls f with every response header of the answer: the
// response metadata that the handler and the interceptors set (x-request-id
// among them), with lower-case keys and without binary ("-bin") keys. An
// adapter sets each key, replacing what its HTTP chain may already have set
// under that name (one X-Request-Id line, not two). The value slices are
// the handlers' own and must not be modified; they stay valid after Reset.
func (c *Call) EachHeader(f func(key string, values []string)) {
	for k, vs := range c.respMD {
		if strings.HasSuffix(k, "-bin") {
			continue
		}
		f(k, vs)
	}
}

var (
	unmarshalOpts = protojson.UnmarshalOptions{}
	marshalOpts   = protojson.MarshalOptions{EmitUnpopulated: true}
	// bodyPool holds the buffers Transcode reads BodyReader into.
	bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	// decodeNone decodes the empty body of a method that takes none.
	decodeNone = func(any) error { return nil }
)

// maxPooledBuf is the largest body buffer kept for reuse.
const maxPooledBuf = 64 << 10

// Transcode serves c as a call of the unary gRPC method bound to its method
// and path (see Gateway for the mapping), with the server's interceptors,
// and appends the JSON answer to dst: the response message in proto3 JSON
// with Status 200, or a google.rpc.Status with the error's HTTP status
// (404, 405 with Allow, 400 for a bad Grpc-Timeout or body, 413, 415, and
// httpstatus.FromCode of a handler's code). It returns the extended dst, which
// the caller owns; the response headers are c's EachHeader. ctx is the
// parent of the handler's context (its cancellation and deadline reach the
// handler; Timeout adds a deadline). Transcode keeps no reference to
// c.Method, c.Path, c.Body or dst after it returns, so they may alias
// buffers the caller reuses; strings in the metadata and headers are
// copies. Safe for concurrent use with other Calls.
func (g *Gateway) Transcode(ctx context.Context, c *Call, dst []byte) []byte {
	c.prepare()
	byVerb, ok := g.routes[c.Path]
	if !ok {
		return c.fail(dst, http.StatusNotFound, status.New(codes.NotFound, "no gRPC method is bound to "+c.Path))
	}
	rt := byVerb[c.Method]
	if rt == nil && c.Method == http.MethodHead {
		rt = byVerb[http.MethodGet] // HEAD is GET without the body
	}
	if rt == nil {
		for _, other := range byVerb {
			c.Allow = other.allow
			break
		}
		return c.fail(dst, http.StatusMethodNotAllowed, status.New(codes.Unimplemented, "method "+c.Method+" is not allowed on "+c.Path))
	}
	if c.Timeout != "" {
		d, err := parseTimeout(c.Timeout)
		if err != nil {
			return c.fail(dst, http.StatusBadRequest, status.New(codes.InvalidArgument, err.Error()))
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	dec := decodeNone
	if rt.hasBody {
		if ct := c.ContentType; ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				return c.fail(dst, http.StatusUnsupportedMediaType, status.New(codes.InvalidArgument, "Content-Type must be application/json, got "+ct))
			}
		}
		body := c.Body
		if c.BodyReader != nil {
			buf := bodyPool.Get().(*bytes.Buffer)
			buf.Reset()
			defer func() {
				if buf.Cap() <= maxPooledBuf { // a large echo must not stay pinned in the pool
					bodyPool.Put(buf)
				}
			}()
			if _, err := buf.ReadFrom(io.LimitReader(c.BodyReader, g.maxBody+1)); err != nil {
				if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
					return c.fail(dst, http.StatusRequestEntityTooLarge, status.Newf(codes.ResourceExhausted, "request body larger than %d bytes", mbe.Limit))
				}
				return c.fail(dst, http.StatusBadRequest, status.New(codes.InvalidArgument, "reading request body: "+err.Error()))
			}
			body = buf.Bytes()
		}
		if int64(len(body)) > g.maxBody {
			return c.fail(dst, http.StatusRequestEntityTooLarge, status.Newf(codes.ResourceExhausted, "request body larger than %d bytes", g.maxBody))
		}
		if len(body) > 0 {
			dec = func(v any) error {
				if err := unmarshalOpts.Unmarshal(body, v.(proto.Message)); err != nil {
					return status.Error(codes.InvalidArgument, "invalid JSON body: "+err.Error())
				}
				return nil
			}
		}
	}

	ts := &gatewayStream{method: rt.fullMethod}
	md := c.metadata()
	if g.stats != nil {
		md = g.traceMetadata(ctx, md)
	}
	ctx = grpc.NewContextWithServerTransportStream(metadata.NewIncomingContext(ctx, md), ts)
	var begin time.Time
	if g.stats != nil {
		begin = time.Now()
		ctx = g.stats.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: rt.fullMethod})
		g.stats.HandleRPC(ctx, &stats.Begin{BeginTime: begin})
	}
	resp, err := rt.handler(rt.impl, ctx, dec, g.interceptor)
	if g.stats != nil {
		g.stats.HandleRPC(ctx, &stats.End{BeginTime: begin, EndTime: time.Now(), Error: err})
	}
	c.respMD, c.RequestID = ts.collected()
	if err != nil {
		st, ok := status.FromError(err)
		if !ok { // as grpc-go does: a bare context error keeps its meaning
			st = status.FromContextError(err)
		}
		return c.fail(dst, httpstatus.FromCode(st.Code()), st)
	}
	out, err := marshalOpts.MarshalAppend(dst, resp.(proto.Message))
	if err != nil {
		return c.fail(dst, http.StatusInternalServerError, status.New(codes.Internal, "encoding response: "+err.Error()))
	}
	c.Status = http.StatusOK
	return out
}

// fail sets c's status and appends st as a google.rpc.Status JSON body.
// traceMetadata returns md with the traceparent (and tracestate, baggage)
// of the span in ctx, the HTTP request's, in place of the client's: the
// gRPC span otelgrpc starts from the metadata is then that span's child,
// one trace as through a proxy. md is copied, never modified. Without a
// span in ctx, md is returned as it is.
func (g *Gateway) traceMetadata(ctx context.Context, md metadata.MD) metadata.MD {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return md
	}
	md = md.Copy()
	g.prop.Inject(ctx, metadataCarrier(md))
	return md
}

// metadataCarrier is a propagation.TextMapCarrier over gRPC metadata.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }
func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

func (c *Call) fail(dst []byte, code int, st *status.Status) []byte {
	c.Status = code
	out, err := protojson.MarshalOptions{}.MarshalAppend(dst, st.Proto())
	if err != nil { // a Status always marshals; keep a valid body anyway
		return append(dst, `{"code":13,"message":"encoding error status"}`...)
	}
	return out
}
