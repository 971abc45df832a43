package rpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// nopStream is a ServerTransportStream that drops headers, standing in for
// grpc-go's transport so the chain can be timed alone.
type nopStream struct{}

func (nopStream) Method() string               { return "/hotpath.v1.TimeService/Now" }
func (nopStream) SetHeader(metadata.MD) error  { return nil }
func (nopStream) SendHeader(metadata.MD) error { return nil }
func (nopStream) SetTrailer(metadata.MD) error { return nil }

// BenchmarkUnaryChain prices the interceptor chain per call: none (what a
// bare grpc-go server runs), the default chain without metrics, and with
// Prometheus metrics.
func BenchmarkUnaryChain(b *testing.B) {
	svc := &timeService{now: fixedClock}
	handler := func(ctx context.Context, req any) (any, error) {
		return svc.Now(ctx, req.(*hotpathv1.NowRequest))
	}
	info := &grpc.UnaryServerInfo{Server: svc, FullMethod: "/hotpath.v1.TimeService/Now"}
	ctx := grpc.NewContextWithServerTransportStream(
		metadata.NewIncomingContext(context.Background(), metadata.Pairs("user-agent", "grpc-go/1.85.0", "content-type", "application/grpc")),
		nopStream{})
	req := &hotpathv1.NowRequest{}
	cases := []struct {
		name string
		reg  bool // with Prometheus metrics
		cfg  Config
		none bool
	}{
		{"none", false, Config{}, true},
		{"default-nometrics", false, Config{}, false},
		{"default", true, Config{}, false},
		{"default+auth+timeout", true, Config{AuthToken: "t", Timeout: 1e9}, false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			cfg, err := tc.cfg.withDefaults()
			if err != nil {
				b.Fatal(err)
			}
			var reg prometheus.Registerer
			if tc.reg {
				reg = prometheus.NewRegistry()
			}
			unary, _, m, err := interceptors(cfg, reg)
			if err != nil {
				b.Fatal(err)
			}
			if m != nil {
				m.prepare(map[string]grpc.ServiceInfo{"hotpath.v1.TimeService": {Methods: []grpc.MethodInfo{{Name: "Now"}}}})
			}
			chain := chainUnary(unary)
			cctx := ctx
			if tc.cfg.AuthToken != "" {
				cctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer t"))
				cctx = grpc.NewContextWithServerTransportStream(cctx, nopStream{})
			}
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if tc.none {
					_, err = handler(cctx, req)
				} else {
					_, err = chain(cctx, req, info, handler)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGateway is one JSON call through the in-process gateway,
// interceptors and metrics included (the harness allocates the request and
// recorder; see internal/cmd/gwproxy for the same against other libraries).
func BenchmarkGateway(b *testing.B) {
	s, err := New(Config{Now: fixedClock}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	gw := s.Gateway()
	for _, c := range []struct{ name, method, path, body string }{
		{"time", http.MethodGet, "/v1/time", ""},
		{"echo", http.MethodPost, "/v1/echo", `{"message":"hello, hotpath","data":"AAECAwQFBgcICQ=="}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
				if c.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				rec := httptest.NewRecorder()
				gw.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkUnaryNow is one TimeService.Now call through a real grpc-go
// client and server over loopback h2c, client included: "timeout" is
// Config{Timeout: 15 s} (the request timeout and, since the tap, the
// in-flight cap), "serve" adds hotpath serve's WriteTimeout (20 s, the
// connection watchdog).
func BenchmarkUnaryNow(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"timeout", Config{Timeout: 15 * time.Second}},
		{"serve", Config{Timeout: 15 * time.Second, WriteTimeout: 20 * time.Second}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ts := start(b, c.cfg, false)
			tc := hotpathv1.NewTimeServiceClient(ts.conn)
			ctx := context.Background()
			if _, err := tc.Now(ctx, &hotpathv1.NowRequest{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.Now(ctx, &hotpathv1.NowRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdmission prices the tap alone, on a context shaped like a
// grpc-go stream's (metadata over a cancel context, cancelled when the
// stream ends): "stream" is the stream's own cost without a tap.
func BenchmarkAdmission(b *testing.B) {
	md := metadata.Pairs("user-agent", "grpc-go/1.85.0", "content-type", "application/grpc")
	for _, c := range []struct {
		name    string
		timeout time.Duration
		max     int
		tap     bool
	}{
		{"stream", 0, 0, false},
		{"cap", 0, 1024, true},
		{"timeout", 15 * time.Second, 0, true},
		{"timeout+cap", 15 * time.Second, 1024, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			a := newAdmission(c.timeout, c.max)
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				ctx = metadata.NewIncomingContext(ctx, md)
				if c.tap {
					if _, err := a.tap(ctx, nil); err != nil {
						b.Fatal(err)
					}
				}
				cancel()
			}
		})
	}
}
