package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Gateway transcodes HTTP/JSON requests to unary gRPC methods in process. It
// is a thin layer over protojson rather than grpc-gateway or vanguard: it
// calls the method's generated handler with the server's own interceptor
// chain, so a JSON call is a gRPC call without the wire (see docs/grpc.md for
// the measurements behind the choice).
//
// Routes come from google.api.http annotations with literal paths (no
// {variables}) and body "*" or none. Request headers become incoming
// metadata (lower-cased, hop-by-hop headers dropped); a Grpc-Timeout header
// sets the deadline; response metadata becomes response headers. Bodies must
// be application/json (or have no Content-Type); an empty body is an empty
// message. Responses use proto3 JSON (lowerCamel names, int64 as strings,
// unpopulated fields included). Errors are a google.rpc.Status JSON body with
// the HTTP status mapped from the code; malformed JSON is 400, an unknown
// path 404, a known path with the wrong method 405, a body over the size
// limit 413, a wrong Content-Type 415.
type Gateway struct {
	routes      map[string]map[string]*route // path → HTTP method → route
	maxBody     int64
	interceptor grpc.UnaryServerInterceptor
}

// route is one HTTP binding of a unary method.
type route struct {
	fullMethod string
	handler    grpc.MethodHandler
	impl       any
	hasBody    bool
	allow      string // Allow header for 405 on this path
}

type gatewayService struct {
	desc *grpc.ServiceDesc
	impl any
}

type gatewayConfig struct {
	maxBody     int64
	interceptor grpc.UnaryServerInterceptor
	services    []gatewayService
}

func newGateway(cfg gatewayConfig) (*Gateway, error) {
	g := &Gateway{routes: map[string]map[string]*route{}, maxBody: cfg.maxBody, interceptor: cfg.interceptor}
	for _, svc := range cfg.services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc.desc.ServiceName))
		if err != nil {
			return nil, fmt.Errorf("rpc gateway: service %s: %w", svc.desc.ServiceName, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("rpc gateway: %s is not a service", svc.desc.ServiceName)
		}
		for _, m := range svc.desc.Methods {
			md := sd.Methods().ByName(protoreflect.Name(m.MethodName))
			if md == nil {
				return nil, fmt.Errorf("rpc gateway: %s/%s has no descriptor", svc.desc.ServiceName, m.MethodName)
			}
			rule, _ := proto.GetExtension(md.Options().(*descriptorpb.MethodOptions), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil {
				continue
			}
			verb, path, hasBody, err := binding(rule)
			if err != nil {
				return nil, fmt.Errorf("rpc gateway: %s/%s: %w", svc.desc.ServiceName, m.MethodName, err)
			}
			if g.routes[path] == nil {
				g.routes[path] = map[string]*route{}
			}
			if g.routes[path][verb] != nil {
				return nil, fmt.Errorf("rpc gateway: %s %s bound twice", verb, path)
			}
			g.routes[path][verb] = &route{
				fullMethod: "/" + svc.desc.ServiceName + "/" + m.MethodName,
				handler:    m.Handler,
				impl:       svc.impl,
				hasBody:    hasBody,
			}
		}
	}
	for _, byVerb := range g.routes {
		verbs := make([]string, 0, len(byVerb))
		for v := range byVerb {
			verbs = append(verbs, v)
		}
		sort.Strings(verbs)
		for _, r := range byVerb {
			r.allow = strings.Join(verbs, ", ")
		}
	}
	return g, nil
}

// binding reads the supported subset of an HttpRule.
func binding(rule *annotations.HttpRule) (verb, path string, hasBody bool, err error) {
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		verb, path = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		verb, path = http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		verb, path = http.MethodPut, p.Put
	case *annotations.HttpRule_Delete:
		verb, path = http.MethodDelete, p.Delete
	case *annotations.HttpRule_Patch:
		verb, path = http.MethodPatch, p.Patch
	default:
		return "", "", false, errors.New("unsupported google.api.http pattern (custom or none)")
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "{}*:") {
		return "", "", false, fmt.Errorf("unsupported path template %q: only literal paths", path)
	}
	if len(rule.GetAdditionalBindings()) > 0 || rule.GetResponseBody() != "" {
		return "", "", false, errors.New("additional_bindings and response_body are not supported")
	}
	switch rule.GetBody() {
	case "":
	case "*":
		if verb == http.MethodGet || verb == http.MethodDelete {
			return "", "", false, fmt.Errorf("%s with a body", verb)
		}
		hasBody = true
	default:
		return "", "", false, fmt.Errorf("body %q: only \"*\" or none", rule.GetBody())
	}
	return verb, path, hasBody, nil
}

var (
	// jsonContentType is shared by every response: net/http only reads it.
	jsonContentType = []string{"application/json"}
	unmarshalOpts   = protojson.UnmarshalOptions{}
	marshalOpts     = protojson.MarshalOptions{EmitUnpopulated: true}
	bufPool         = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// maxPooledBuf is the largest body buffer kept for reuse.
const maxPooledBuf = 64 << 10

// ServeHTTP serves one JSON call; see Gateway.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	byVerb, ok := g.routes[r.URL.Path]
	if !ok {
		writeStatus(w, http.StatusNotFound, status.New(codes.NotFound, "no gRPC method is bound to "+r.URL.Path))
		return
	}
	rt := byVerb[r.Method]
	if rt == nil && r.Method == http.MethodHead {
		rt = byVerb[http.MethodGet] // HEAD is GET without the body (net/http drops it)
	}
	if rt == nil {
		for _, other := range byVerb {
			w.Header().Set("Allow", other.allow)
			break
		}
		writeStatus(w, http.StatusMethodNotAllowed, status.New(codes.Unimplemented, "method "+r.Method+" is not allowed on "+r.URL.Path))
		return
	}
	ctx := r.Context()
	if v := r.Header.Get("Grpc-Timeout"); v != "" {
		d, err := parseTimeout(v)
		if err != nil {
			writeStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, err.Error()))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuf { // a large echo must not stay pinned in the pool
			bufPool.Put(buf)
		}
	}()
	if rt.hasBody {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				writeStatus(w, http.StatusUnsupportedMediaType, status.New(codes.InvalidArgument, "Content-Type must be application/json, got "+ct))
				return
			}
		}
		n, err := buf.ReadFrom(io.LimitReader(r.Body, g.maxBody+1))
		if err != nil {
			writeStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, "reading request body: "+err.Error()))
			return
		}
		if n > g.maxBody {
			writeStatus(w, http.StatusRequestEntityTooLarge, status.Newf(codes.ResourceExhausted, "request body larger than %d bytes", g.maxBody))
			return
		}
	}
	body := buf.Bytes()

	ts := &gatewayStream{method: rt.fullMethod}
	ctx = grpc.NewContextWithServerTransportStream(metadata.NewIncomingContext(ctx, headerMD(r.Header)), ts)
	dec := func(v any) error {
		if len(body) == 0 {
			return nil
		}
		if err := unmarshalOpts.Unmarshal(body, v.(proto.Message)); err != nil {
			return status.Error(codes.InvalidArgument, "invalid JSON body: "+err.Error())
		}
		return nil
	}
	resp, err := rt.handler(rt.impl, ctx, dec, g.interceptor)
	ts.writeHeaders(w.Header())
	if err != nil {
		st, ok := status.FromError(err)
		if !ok { // as grpc-go does: a bare context error keeps its meaning
			st = status.FromContextError(err)
		}
		writeStatus(w, HTTPStatus(st.Code()), st)
		return
	}
	out, err := marshalOpts.MarshalAppend(body[len(body):len(body)], resp.(proto.Message))
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, status.New(codes.Internal, "encoding response: "+err.Error()))
		return
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out) // a failed write means the client left; there is no one to tell
	if cap(out) > cap(body) {
		buf.Reset()
		*buf = *bytes.NewBuffer(out[:0]) // keep the grown buffer for the next call
	}
}

// writeStatus writes st as a google.rpc.Status JSON body.
func writeStatus(w http.ResponseWriter, code int, st *status.Status) {
	b, err := protojson.Marshal(st.Proto())
	if err != nil { // a Status always marshals; keep a valid body anyway
		b = []byte(`{"code":13,"message":"encoding error status"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b) // a failed write means the client left
}

// hopHeaders are not passed on as metadata.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true, "Grpc-Timeout": true,
}

// lowerNames holds the metadata names of common request headers, so most
// requests need no strings.ToLower allocation per header.
var lowerNames = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Content-Type", "Cookie", "Origin", "Referer", "User-Agent",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id", "Traceparent", "Tracestate"} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

// headerMD turns request headers into incoming metadata. The value slices
// are shared with the request's Header (metadata readers copy them).
func headerMD(h http.Header) metadata.MD {
	md := make(metadata.MD, len(h))
	for k, vs := range h {
		if hopHeaders[k] {
			continue
		}
		name, ok := lowerNames[k]
		if !ok {
			name = strings.ToLower(k)
		}
		md[name] = vs
	}
	return md
}

// gatewayStream is the grpc.ServerTransportStream of a gateway call: it
// collects what handlers and interceptors set with grpc.SetHeader and
// grpc.SetTrailer, to become HTTP response headers.
type gatewayStream struct {
	method string
	mu     sync.Mutex
	md     metadata.MD
}

func (s *gatewayStream) Method() string { return s.method }

func (s *gatewayStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	if s.md == nil {
		s.md = md // the common case (one SetHeader from the request ID interceptor): no copy
	} else {
		s.md = metadata.Join(s.md, md)
	}
	s.mu.Unlock()
	return nil
}

func (s *gatewayStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }
func (s *gatewayStream) SetTrailer(md metadata.MD) error { return s.SetHeader(md) }

// writeHeaders copies the collected metadata to h, skipping binary keys.
// A key replaces what h already had under it (an HTTP middleware in front
// may have set X-Request-Id to the same ID: one header line, not two). The
// value slices are handed over as they are (metadata set by handlers is not
// modified after the call).
func (s *gatewayStream) writeHeaders(h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, vs := range s.md {
		if strings.HasSuffix(k, "-bin") {
			continue
		}
		if k == RequestIDKey {
			h["X-Request-Id"] = vs
			continue
		}
		h[http.CanonicalHeaderKey(k)] = vs
	}
}
