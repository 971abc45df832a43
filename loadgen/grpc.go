package loadgen

// This file is the gRPC unary transport: grpc-go's client (its HTTP/2
// transport, flow control and HPACK are the reference implementation, not
// something to rewrite), with the request message encoded once for the
// whole run and responses counted, not decoded.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health/grpc_health_v1" // resolvable without reflection
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	_ "github.com/hotpath-dev/hotpath/proto/hotpath/v1" // resolvable without reflection
	"github.com/hotpath-dev/hotpath/rpc/httpstatus"
)

// GRPCConfig describes gRPC unary load for NewGRPCTransport.
type GRPCConfig struct {
	// URL is the target: http://host:port (plaintext HTTP/2) or
	// https://host:port (TLS). The path is ignored.
	URL string
	// Call is the method, "package.Service/Method" (a leading "/" is
	// allowed). Methods of services compiled into hotpath (hotpath.v1.*,
	// grpc.health.v1.Health) resolve locally; others through the target's
	// server reflection.
	Call string
	// Request is the request message in proto3 JSON; empty means {}.
	Request []byte
	// Streams is the number of concurrent calls per connection; default 1.
	Streams int
	// Headers are sent as metadata on every call (names lower-cased).
	Headers []Header
	// Insecure skips TLS certificate verification.
	Insecure bool
	// Timeout bounds dialing and, through the call's deadline, every call;
	// default DefaultTimeout.
	Timeout time.Duration
}

// NewGRPCTransport returns a Transport for Config.Transport that sends
// unary gRPC calls. It resolves the method and encodes the request once,
// returning an error wrapping ErrConfig for a bad URL, method or request and
// ErrUnreachable when reflection is needed but the target cannot be reached.
// Each Open makes one HTTP/2 connection shared by Streams clients. A call
// that ends with a non-OK code is a response: Outcome.Status holds its HTTP
// equivalent (httpstatus.FromCode), so it counts as an error in the results; a
// deadline or a failure without a status is an Outcome.Err.
func NewGRPCTransport(ctx context.Context, c GRPCConfig) (Transport, error) {
	bad := func(format string, args ...any) (Transport, error) {
		return nil, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return bad("URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("gRPC URL %q: want http://host:port or https://host:port", c.URL)
	}
	if c.Streams == 0 {
		c.Streams = 1
	}
	if c.Streams < 0 {
		return bad("streams must be > 0, got %d", c.Streams)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	method := strings.TrimPrefix(c.Call, "/")
	svc, name, ok := strings.Cut(method, "/")
	if !ok || svc == "" || name == "" || strings.Contains(name, "/") {
		return bad("--call %q: want package.Service/Method", c.Call)
	}
	creds := insecure.NewCredentials()
	if u.Scheme == "https" {
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: c.Insecure}) //nolint:gosec // user asked with --insecure
	}
	t := &grpcTransport{
		target: u.Host, creds: creds, method: "/" + method, streams: c.Streams, timeout: c.Timeout,
	}
	md, err := t.resolve(ctx, svc, name)
	if err != nil {
		return nil, err
	}
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return bad("--call %s is a streaming method; only unary calls are supported", method)
	}
	req := dynamicpb.NewMessage(md.Input())
	body := c.Request
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := protojson.Unmarshal(body, req); err != nil {
		return bad("request for %s: %v", method, err)
	}
	if t.req, err = proto.Marshal(req); err != nil {
		return bad("request for %s: %v", method, err)
	}
	if len(c.Headers) > 0 {
		kv := make([]string, 0, 2*len(c.Headers))
		for _, h := range c.Headers {
			kv = append(kv, strings.ToLower(h.Name), h.Value)
		}
		t.md = metadata.Pairs(kv...)
	}
	return t, nil
}

type grpcTransport struct {
	target  string
	creds   credentials.TransportCredentials
	method  string // "/package.Service/Method"
	req     []byte // encoded request, shared read-only by every call
	md      metadata.MD
	streams int
	timeout time.Duration
}

func (t *grpcTransport) Name() string { return "grpc" }

// resolve finds the method descriptor locally, else by server reflection.
func (t *grpcTransport) resolve(ctx context.Context, svc, name string) (protoreflect.MethodDescriptor, error) {
	files := protoregistry.GlobalFiles
	if _, err := files.FindDescriptorByName(protoreflect.FullName(svc)); err != nil {
		if files, err = t.reflect(ctx, svc); err != nil {
			return nil, err
		}
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, fmt.Errorf("%w: service %s: %v", ErrConfig, svc, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a service", ErrConfig, svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("%w: service %s has no method %s", ErrConfig, svc, name)
	}
	return md, nil
}

// reflect asks the target's server reflection for the file defining svc
// and its dependencies.
func (t *grpcTransport) reflect(ctx context.Context, svc string) (*protoregistry.Files, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	conn, err := grpc.NewClient(t.target, grpc.WithTransportCredentials(t.creds))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer conn.Close()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err == nil {
		err = stream.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc},
		})
	}
	var resp *reflectionpb.ServerReflectionResponse
	if err == nil {
		resp, err = stream.Recv()
		_ = stream.CloseSend()
	}
	switch {
	case status.Code(err) == codes.Unimplemented:
		return nil, fmt.Errorf("%w: %s is not compiled into hotpath and %s has no server reflection", ErrConfig, svc, t.target)
	case err != nil && (status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded):
		return nil, fmt.Errorf("%w: server reflection at %s: %v", ErrUnreachable, t.target, err)
	case err != nil:
		return nil, fmt.Errorf("%w: server reflection at %s: %v", ErrConfig, t.target, err)
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, fmt.Errorf("%w: server reflection at %s: %s", ErrConfig, t.target, e.GetErrorMessage())
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fd); err != nil {
			return nil, fmt.Errorf("%w: server reflection at %s: %v", ErrConfig, t.target, err)
		}
		set.File = append(set.File, fd)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("%w: descriptors from %s: %v", ErrConfig, t.target, err)
	}
	return files, nil
}

// Open makes one connection (a ClientConn with one HTTP/2 transport) and
// waits until it is ready.
func (t *grpcTransport) Open(ctx context.Context) ([]Client, error) {
	conn, err := grpc.NewClient(t.target,
		grpc.WithTransportCredentials(t.creds),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
	)
	if err != nil {
		return nil, &connectError{err}
	}
	dctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	conn.Connect()
	for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
		if s == connectivity.TransientFailure || !conn.WaitForStateChange(dctx, s) {
			err := dctx.Err()
			if err == nil {
				// The state says only that it failed; a fail-fast call
				// fails at once with the last connection error (TLS,
				// refused, ...), which is what the user needs to read.
				err = errors.New("connection failed")
				if e := conn.Invoke(dctx, t.method, &rawMsg{}, &rawMsg{}); status.Code(e) == codes.Unavailable {
					err = errors.New(status.Convert(e).Message())
				}
			}
			_ = conn.Close()
			return nil, &connectError{fmt.Errorf("%s: %w", t.target, err)}
		}
	}
	clients := make([]Client, t.streams)
	for i := range clients {
		clients[i] = &grpcClient{t: t, conn: conn, last: i == len(clients)-1}
	}
	return clients, nil
}

// grpcClient is one concurrent call slot on a shared ClientConn.
type grpcClient struct {
	t    *grpcTransport
	conn *grpc.ClientConn
	in   rawMsg
	out  rawMsg
	last bool // closes the shared connection
}

// grpcFrame is the length-prefix of a gRPC message on the wire.
const grpcFrame = 5

func (c *grpcClient) Do(ctx context.Context, out *Outcome) {
	*out = Outcome{}
	ctx, cancel := context.WithTimeout(ctx, c.t.timeout)
	defer cancel()
	if c.t.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, c.t.md)
	}
	c.in.b = c.t.req
	c.out.n = 0
	err := c.conn.Invoke(ctx, c.t.method, &c.in, &c.out)
	out.BytesOut = int64(len(c.t.req) + grpcFrame)
	switch st, _ := status.FromError(err); {
	case err == nil:
		out.Status = 200
		out.BytesIn = int64(c.out.n + grpcFrame)
	case ctx.Err() != nil:
		out.Err = ctx.Err()
	case st.Code() == codes.Unavailable: // no connection (or a server refusing calls): a transport failure
		out.Err = &connectError{err}
	default:
		out.Status = httpstatus.FromCode(st.Code())
	}
}

func (c *grpcClient) Close() error {
	if c.last {
		return c.conn.Close()
	}
	return nil
}

// rawMsg carries pre-encoded request bytes out and counts response bytes in.
type rawMsg struct {
	b []byte
	n int
}

// rawCodec sends rawMsg bytes as they are and only measures responses, so
// the load generator spends nothing on (de)serialisation. Its name is
// "proto" so the content-type is plain application/grpc.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(*rawMsg)
	if !ok {
		return nil, fmt.Errorf("loadgen: rawCodec cannot marshal %T", v)
	}
	return m.b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMsg)
	if !ok {
		return fmt.Errorf("loadgen: rawCodec cannot unmarshal into %T", v)
	}
	m.n = len(data)
	return nil
}

func (rawCodec) Name() string { return "proto" }
