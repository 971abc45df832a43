package rpc

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
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
	stats       stats.Handler // otelgrpc's, nil when tracing is off
	prop        propagation.TextMapPropagator
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
	stats       stats.Handler // nil: no tracing
	prop        propagation.TextMapPropagator
}

func newGateway(cfg gatewayConfig) (*Gateway, error) {
	g := &Gateway{routes: map[string]map[string]*route{}, maxBody: cfg.maxBody, interceptor: cfg.interceptor, stats: cfg.stats, prop: cfg.prop}
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

// jsonContentType is shared by every response: net/http only reads it.
var jsonContentType = []string{"application/json"}

// outPool holds ServeHTTP's response body buffers.
var outPool = sync.Pool{New: func() any { return new([]byte) }}

// ServeHTTP serves one JSON call; see Gateway. It is the net/http adapter
// of Transcode: the request headers become the call's metadata (headerMD),
// the body is read only for methods that take one, and the answer's
// metadata replaces response headers of the same name.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := Call{
		Method:      r.Method,
		Path:        r.URL.Path,
		ContentType: r.Header.Get("Content-Type"),
		Timeout:     r.Header.Get("Grpc-Timeout"),
		Metadata:    headerMD(r.Header),
		BodyReader:  r.Body,
	}
	if r.Body == nil || r.Body == http.NoBody {
		c.BodyReader = nil
	}
	bp := outPool.Get().(*[]byte)
	out := g.Transcode(r.Context(), &c, (*bp)[:0])
	h := w.Header()
	if c.RequestID != "" {
		h["X-Request-Id"] = []string{c.RequestID}
	}
	c.EachHeader(func(k string, vs []string) {
		if k == RequestIDKey {
			h["X-Request-Id"] = vs // no canonicalisation for the one header every call has
			return
		}
		h[http.CanonicalHeaderKey(k)] = vs
	})
	if c.Allow != "" {
		h.Set("Allow", c.Allow)
	}
	h["Content-Type"] = jsonContentType
	if c.Status != http.StatusOK {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	w.WriteHeader(c.Status)
	_, _ = w.Write(out) // a failed write means the client left; there is no one to tell
	if cap(out) <= maxPooledBuf {
		*bp = out[:0] // keep a grown buffer for the next call
		outPool.Put(bp)
	}
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
	// requestID is what the request ID interceptor would send as
	// x-request-id metadata: the gateway writes it as X-Request-Id itself,
	// which spares a metadata map and slice per call.
	requestID string
}

// setRequestID records the call's request ID (see requestID).
func (s *gatewayStream) setRequestID(id string) {
	s.mu.Lock()
	s.requestID = id
	s.mu.Unlock()
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

// collected returns the metadata set so far. The value slices are handed
// over as they are (metadata set by handlers is not modified after the
// call).
func (s *gatewayStream) collected() (metadata.MD, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.md, s.requestID
}
