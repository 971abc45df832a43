package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

var transports = []struct {
	name string
	tls  bool
}{{"h2c", false}, {"tls", true}}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Every method answers correctly over plaintext HTTP/2 and over TLS.
func TestEveryMethod(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			ts := start(t, Config{}, tr.tls)
			ctx := ctxT(t)

			now, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctx, &hotpathv1.NowRequest{})
			if err != nil {
				t.Fatalf("Now: %v", err)
			}
			if now.GetUnixMs() != fixedNow.UnixMilli() {
				t.Errorf("Now = %d, want %d", now.GetUnixMs(), fixedNow.UnixMilli())
			}

			echo := hotpathv1.NewEchoServiceClient(ts.conn)
			var hdr metadata.MD
			mctx := metadata.AppendToOutgoingContext(ctx, "x-tenant", "blue", "x-request-id", "req-42")
			resp, err := echo.Echo(mctx, &hotpathv1.EchoRequest{Message: "hi", Data: []byte{0, 1, 2}}, grpc.Header(&hdr))
			if err != nil {
				t.Fatalf("Echo: %v", err)
			}
			if resp.GetMessage() != "hi" || !bytes.Equal(resp.GetData(), []byte{0, 1, 2}) {
				t.Errorf("Echo payload = %q %v", resp.GetMessage(), resp.GetData())
			}
			if got := resp.GetMetadata()["x-tenant"]; got != "blue" {
				t.Errorf("Echo metadata x-tenant = %q, want blue (all: %v)", got, resp.GetMetadata())
			}
			if got := hdr.Get(RequestIDKey); len(got) != 1 || got[0] != "req-42" {
				t.Errorf("response x-request-id = %v, want [req-42]", got)
			}

			stream, err := echo.EchoStream(ctx)
			if err != nil {
				t.Fatalf("EchoStream: %v", err)
			}
			for i, m := range []string{"a", "bb", "ccc"} {
				if err := stream.Send(&hotpathv1.EchoRequest{Message: m}); err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
				got, err := stream.Recv()
				if err != nil {
					t.Fatalf("Recv %d: %v", i, err)
				}
				if got.GetMessage() != m {
					t.Errorf("stream message %d = %q, want %q", i, got.GetMessage(), m)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				t.Errorf("after CloseSend Recv = %v, want EOF", err)
			}
		})
	}
}

func TestReflectionListsServices(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			ts := start(t, Config{}, tr.tls)
			stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			req := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}
			if err := stream.Send(req); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			_ = stream.CloseSend()
			var names []string
			for _, s := range resp.GetListServicesResponse().GetService() {
				names = append(names, s.GetName())
			}
			sort.Strings(names)
			got := strings.Join(names, ",")
			for _, want := range []string{"grpc.health.v1.Health", "hotpath.v1.EchoService", "hotpath.v1.TimeService", "grpc.reflection.v1.ServerReflection"} {
				if !strings.Contains(got, want) {
					t.Errorf("reflection lists %s, missing %s", got, want)
				}
			}
		})
	}
}

func TestReflectionCanBeTurnedOff(t *testing.T) {
	ts := start(t, Config{NoReflection: true}, false)
	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctxT(t))
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("reflection with NoReflection: %v, want Unimplemented", err)
	}
}

func TestHealthFlips(t *testing.T) {
	ts := start(t, Config{}, false)
	ctx := ctxT(t)
	hc := healthpb.NewHealthClient(ts.conn)
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "hotpath.v1.TimeService"})
	if err != nil {
		t.Fatal(err)
	}
	expectWatch := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		got, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got.GetStatus() != want {
			t.Errorf("watch = %v, want %v", got.GetStatus(), want)
		}
	}
	check := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		got, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetStatus() != want {
			t.Errorf("Check(%q) = %v, want %v", service, got.GetStatus(), want)
		}
	}
	expectWatch(healthpb.HealthCheckResponse_SERVING)
	for _, svc := range []string{"", "hotpath.v1.TimeService", "hotpath.v1.EchoService"} {
		check(svc, healthpb.HealthCheckResponse_SERVING)
	}
	ts.srv.SetServing(false)
	expectWatch(healthpb.HealthCheckResponse_NOT_SERVING)
	for _, svc := range []string{"", "hotpath.v1.TimeService", "hotpath.v1.EchoService"} {
		check(svc, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	ts.srv.SetServing(true)
	expectWatch(healthpb.HealthCheckResponse_SERVING)
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check(unknown service) = %v, want NotFound", err)
	}
}

func TestUnknownMethodIsUnimplemented(t *testing.T) {
	ts := start(t, Config{}, false)
	for _, method := range []string{"/hotpath.v1.TimeService/Later", "/hotpath.v1.NoSuchService/Now"} {
		err := ts.conn.Invoke(ctxT(t), method, &hotpathv1.NowRequest{}, &hotpathv1.NowResponse{})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("%s: %v, want Unimplemented", method, err)
		}
	}
}

func TestOversizedMessageIsResourceExhausted(t *testing.T) {
	ts := start(t, Config{MaxRecvMsgSize: 1024}, false)
	echo := hotpathv1.NewEchoServiceClient(ts.conn)
	if _, err := echo.Echo(ctxT(t), &hotpathv1.EchoRequest{Data: make([]byte, 100)}); err != nil {
		t.Fatalf("small message: %v", err)
	}
	_, err := echo.Echo(ctxT(t), &hotpathv1.EchoRequest{Data: make([]byte, 2048)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("2 KiB message with a 1 KiB limit: %v, want ResourceExhausted", err)
	}
}

// deadlineProbe records the deadline a handler sees, after the whole chain.
type deadlineProbe struct{ got chan time.Duration }

func (p deadlineProbe) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	d := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	p.got <- d
	return h(ctx, req)
}

func TestDeadlinePropagates(t *testing.T) {
	cases := []struct {
		name          string
		serverTimeout time.Duration
		clientTimeout time.Duration // 0: none
		wantMax       time.Duration // the handler's remaining time must be in (0, wantMax]
	}{
		{"client deadline reaches the handler", 0, 7 * time.Second, 7 * time.Second},
		{"server cap applies without a client deadline", 3 * time.Second, 0, 3 * time.Second},
		{"earlier client deadline wins over the cap", 30 * time.Second, 2 * time.Second, 2 * time.Second},
		{"earlier cap wins over the client deadline", 1 * time.Second, 9 * time.Second, 1 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			probe := deadlineProbe{got: make(chan time.Duration, 1)}
			ts := start(t, Config{Timeout: tc.serverTimeout, UnaryInterceptors: []grpc.UnaryServerInterceptor{probe.unary}}, false)
			ctx := context.Background()
			if tc.clientTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.clientTimeout)
				defer cancel()
			}
			if _, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctx, &hotpathv1.NowRequest{}); err != nil {
				t.Fatal(err)
			}
			got := <-probe.got
			if got <= 0 || got > tc.wantMax {
				t.Errorf("handler saw %v left, want in (0, %v]", got, tc.wantMax)
			}
		})
	}
}

// A call whose deadline passes while the handler waits ends DEADLINE_EXCEEDED.
func TestDeadlineExceeded(t *testing.T) {
	block := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	ts := start(t, Config{Timeout: 50 * time.Millisecond, UnaryInterceptors: []grpc.UnaryServerInterceptor{block}}, false)
	_, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctxT(t), &hotpathv1.NowRequest{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("blocked call: %v, want DeadlineExceeded", err)
	}
}

func TestRecoveryTurnsPanicsIntoInternal(t *testing.T) {
	panicky := func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) { panic("boom") }
	panickyStream := func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error { panic("boom") }
	reported := make(chan string, 2)
	ts := start(t, Config{
		UnaryInterceptors:  []grpc.UnaryServerInterceptor{panicky},
		StreamInterceptors: []grpc.StreamServerInterceptor{panickyStream},
		OnPanic:            func(method string, v any, _ []byte) { reported <- method },
	}, false)
	_, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctxT(t), &hotpathv1.NowRequest{})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "boom") {
		t.Errorf("panicking unary call: %v, want Internal without the panic value", err)
	}
	stream, err := hotpathv1.NewEchoServiceClient(ts.conn).EchoStream(ctxT(t))
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Internal {
		t.Errorf("panicking stream: %v, want Internal", err)
	}
	if m := <-reported; m != "/hotpath.v1.TimeService/Now" {
		t.Errorf("OnPanic method = %q", m)
	}
	if m := <-reported; m != "/hotpath.v1.EchoService/EchoStream" {
		t.Errorf("OnPanic method = %q", m)
	}
	// The server goes on serving.
	if _, err := hotpathv1.NewEchoServiceClient(ts.conn).Echo(ctxT(t), &hotpathv1.EchoRequest{}); status.Code(err) != codes.Internal {
		t.Errorf("next call: %v (the panicking interceptor is still installed, so Internal)", err)
	}
}

func TestAuth(t *testing.T) {
	ts := start(t, Config{AuthToken: "s3cret"}, false)
	cases := []struct {
		name  string
		auth  string
		want  codes.Code
		probe bool // call health instead of TimeService
	}{
		{"no token", "", codes.Unauthenticated, false},
		{"wrong token", "Bearer nope", codes.Unauthenticated, false},
		{"wrong scheme", "Basic czNjcmV0", codes.Unauthenticated, false},
		{"right token", "Bearer s3cret", codes.OK, false},
		{"scheme is case-insensitive", "bearer s3cret", codes.OK, false},
		{"health is exempt so probes work", "", codes.OK, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			if tc.auth != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.auth)
			}
			var err error
			if tc.probe {
				_, err = healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{})
			} else {
				_, err = hotpathv1.NewTimeServiceClient(ts.conn).Now(ctx, &hotpathv1.NowRequest{})
			}
			if status.Code(err) != tc.want {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestAuthRequiredNarrowsTheGuard: with AuthRequired only the methods it
// covers need the token; exempt services stay exempt even if it covers them.
func TestAuthRequiredNarrowsTheGuard(t *testing.T) {
	var asked []string
	var mu sync.Mutex
	ts := start(t, Config{AuthToken: "s3cret", AuthRequired: func(m string) bool {
		mu.Lock()
		asked = append(asked, m)
		mu.Unlock()
		return strings.HasPrefix(m, "/hotpath.v1.EchoService/") || strings.HasPrefix(m, "/grpc.health.v1.Health/")
	}}, false)
	cases := []struct {
		name string
		call func(ctx context.Context) error
		want codes.Code
	}{
		{"uncovered method needs no token", func(ctx context.Context) error {
			_, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctx, &hotpathv1.NowRequest{})
			return err
		}, codes.OK},
		{"covered method needs the token", func(ctx context.Context) error {
			_, err := hotpathv1.NewEchoServiceClient(ts.conn).Echo(ctx, &hotpathv1.EchoRequest{})
			return err
		}, codes.Unauthenticated},
		{"covered but exempt service needs none", func(ctx context.Context) error {
			_, err := healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}, codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(ctxT(t)); status.Code(err) != tc.want {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(asked, "/hotpath.v1.TimeService/Now") {
		t.Errorf("AuthRequired was asked about %q, not about the full method path", asked)
	}
}

func TestRequestID(t *testing.T) {
	ts := start(t, Config{}, false)
	cases := []struct {
		name, sent string
		keep       bool
	}{
		{"client ID is kept", "abc-123", true},
		{"missing ID is generated", "", false},
		{"ID with spaces is replaced", "a b", false},
		{"overlong ID is replaced", strings.Repeat("x", 129), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			if tc.sent != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, RequestIDKey, tc.sent)
			}
			var hdr metadata.MD
			if _, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctx, &hotpathv1.NowRequest{}, grpc.Header(&hdr)); err != nil {
				t.Fatal(err)
			}
			got := hdr.Get(RequestIDKey)
			if len(got) != 1 || got[0] == "" {
				t.Fatalf("x-request-id header = %v, want one value", got)
			}
			if (got[0] == tc.sent) != tc.keep {
				t.Errorf("sent %q, got %q, keep=%v", tc.sent, got[0], tc.keep)
			}
			// A generated ID has the HTTP middleware's format: one
			// generator for both protocols.
			if !tc.keep && !generatedID.MatchString(got[0]) {
				t.Errorf("generated ID %q does not have the HTTP middleware's format", got[0])
			}
		})
	}
}

// generatedID is policy.AppendRequestID's format: 16 hex digits of
// per-process prefix, '-', 16 hex digits of counter.
var generatedID = regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{16}$`)

func TestNoRequestIDHeader(t *testing.T) {
	seen := make(chan string, 1)
	probe := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen <- RequestID(ctx)
		return h(ctx, req)
	}
	ts := start(t, Config{NoRequestIDHeader: true, UnaryInterceptors: []grpc.UnaryServerInterceptor{probe}}, false)
	var hdr metadata.MD
	ctx := metadata.AppendToOutgoingContext(ctxT(t), RequestIDKey, "abc")
	if _, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctx, &hotpathv1.NowRequest{}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get(RequestIDKey); len(got) != 0 {
		t.Errorf("x-request-id header %v sent despite NoRequestIDHeader", got)
	}
	if got := <-seen; got != "abc" {
		t.Errorf("RequestID(ctx) = %q, want abc (still read)", got)
	}
}

func TestMetricsByMethodAndCode(t *testing.T) {
	ts := start(t, Config{AuthToken: "t"}, false)
	ctx := metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Bearer t")
	tc := hotpathv1.NewTimeServiceClient(ts.conn)
	for range 3 {
		if _, err := tc.Now(ctx, &hotpathv1.NowRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tc.Now(ctxT(t), &hotpathv1.NowRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	handled, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range handled {
		if mf.GetName() != "hotpath_grpc_server_handled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var method, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "method":
					method = l.GetValue()
				case "code":
					code = l.GetValue()
				}
			}
			counts[method+" "+code] = m.GetCounter().GetValue()
		}
	}
	if got := counts["hotpath.v1.TimeService/Now OK"]; got != 3 {
		t.Errorf("Now OK = %v, want 3 (all: %v)", got, counts)
	}
	if got := counts["hotpath.v1.TimeService/Now Unauthenticated"]; got != 1 {
		t.Errorf("Now Unauthenticated = %v, want 1 (all: %v)", got, counts)
	}
	var observed uint64
	for _, mf := range handled {
		if mf.GetName() != "hotpath_grpc_server_handling_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "hotpath.v1.TimeService/Now" {
				observed = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if observed != 4 {
		t.Errorf("handling_seconds for Now counted %d calls, want 4", observed)
	}
	if got, ok := counts["hotpath.v1.EchoService/Echo OK"]; !ok || got != 0 {
		t.Errorf("Echo OK = %v (present %v), want a series at 0 from the start", got, ok)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for success
	}{
		{"zero value works", Config{}, ""},
		{"negative message size", Config{MaxRecvMsgSize: -1}, "MaxRecvMsgSize"},
		{"negative timeout", Config{Timeout: -time.Second}, "Timeout"},
		{"negative keepalive", Config{KeepaliveMinTime: -1}, "KeepaliveMinTime"},
		{"negative write timeout", Config{WriteTimeout: -1}, "WriteTimeout"},
		{"window below HTTP/2's 65,535", Config{InitialWindowSize: 1024}, "InitialWindowSize"},
		{"negative connection window", Config{InitialConnWindowSize: -1}, "InitialConnWindowSize"},
		{"no in-flight cap", Config{MaxInFlight: -1}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				s.Stop()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %s", err, tc.want)
			}
		})
	}
}

func TestMetricsRegistrationConflictIsAnError(t *testing.T) {
	ts := start(t, Config{}, false)
	if _, err := New(Config{}, ts.reg); err == nil {
		t.Fatal("second New on the same registry: want a registration error")
	}
}

// With MaxConcurrentStreams 1, a second call waits while a stream holds the
// only slot (the client honours the server's SETTINGS), and goes through
// once the stream ends.
func TestMaxConcurrentStreams(t *testing.T) {
	ts := start(t, Config{MaxConcurrentStreams: 1}, false)
	ctx := ctxT(t)
	stream, err := hotpathv1.NewEchoServiceClient(ts.conn).EchoStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&hotpathv1.EchoRequest{Message: "hold"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // the stream is open on the server
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	tc := hotpathv1.NewTimeServiceClient(ts.conn)
	if _, err := tc.Now(short, &hotpathv1.NowRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("second call while the only stream slot is taken: %v, want DeadlineExceeded", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("closing the stream: %v", err)
	}
	if _, err := tc.Now(ctx, &hotpathv1.NowRequest{}); err != nil {
		t.Fatalf("after the stream ended: %v", err)
	}
}

// Shutdown waits for calls in flight, and cancels them when its context
// ends first.
func TestShutdown(t *testing.T) {
	cases := []struct {
		name    string
		release bool // let the blocked call finish before the deadline
		wantErr bool
	}{
		{"in-flight call finishes", true, false},
		{"deadline cancels the call", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			hold := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				close(entered)
				select {
				case <-release:
				case <-ctx.Done():
				}
				return h(ctx, req)
			}
			ts := start(t, Config{UnaryInterceptors: []grpc.UnaryServerInterceptor{hold}}, false)
			callErr := make(chan error, 1)
			go func() {
				_, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctxT(t), &hotpathv1.NowRequest{})
				callErr <- err
			}()
			<-entered
			ctx, cancel := context.WithCancel(context.Background())
			shutErr := make(chan error, 1)
			go func() { shutErr <- ts.srv.Shutdown(ctx) }()
			if tc.release {
				close(release)
			} else {
				cancel()
			}
			err := <-shutErr
			cancel()
			if (err != nil) != tc.wantErr {
				t.Errorf("Shutdown = %v, want error %v", err, tc.wantErr)
			}
			if err := <-callErr; (err == nil) != tc.release {
				t.Errorf("in-flight call: %v (released %v)", err, tc.release)
			}
		})
	}
}
