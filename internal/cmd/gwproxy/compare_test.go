// This file compares the HTTP/JSON transcoders in process (see the package
// doc for the command and docs/grpc.md for the figures).
package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/vanguard/vanguardgrpc"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"

	gw "github.com/hotpath-dev/hotpath/internal/cmd/gwproxy/hotpathv1"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"github.com/hotpath-dev/hotpath/rpc"
)

// Plain implementations for grpc-gateway's in-process mode, which calls the
// service directly (and so skips every interceptor).
type timeImpl struct {
	hotpathv1.UnimplementedTimeServiceServer
}

func (timeImpl) Now(context.Context, *hotpathv1.NowRequest) (*hotpathv1.NowResponse, error) {
	return &hotpathv1.NowResponse{UnixMs: time.Now().UnixMilli()}, nil
}

type echoImpl struct {
	hotpathv1.UnimplementedEchoServiceServer
}

func (echoImpl) Echo(ctx context.Context, r *hotpathv1.EchoRequest) (*hotpathv1.EchoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	out := map[string]string{}
	for k, v := range md {
		out[k] = strings.Join(v, ", ")
	}
	return &hotpathv1.EchoResponse{Message: r.GetMessage(), Data: r.GetData(), Metadata: out}, nil
}

// handlers builds every candidate, and a baseline that writes a fixed JSON
// body: the cost of the harness (request, recorder) alone. "hotpath" and "vanguard" run rpc's full
// interceptor chain with Prometheus metrics; grpc-gateway cannot. The rpc
// servers stop when tb ends.
func handlers(tb testing.TB) map[string]http.Handler {
	tb.Helper()
	hp, err := rpc.New(rpc.Config{}, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(hp.Stop)
	hpBare, err := rpc.New(rpc.Config{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(hpBare.Stop)
	mux := runtime.NewServeMux()
	if err := gw.RegisterTimeServiceHandlerServer(context.Background(), mux, timeImpl{}); err != nil {
		tb.Fatal(err)
	}
	if err := gw.RegisterEchoServiceHandlerServer(context.Background(), mux, echoImpl{}); err != nil {
		tb.Fatal(err)
	}
	vsrv, err := rpc.New(rpc.Config{}, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(vsrv.Stop)
	vg, err := vanguardgrpc.NewTranscoder(vsrv.GRPC())
	if err != nil {
		tb.Fatal(err)
	}
	fixed := []byte(`{"unixMs":"1764000000123"}`)
	baseline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(fixed)
	})
	return map[string]http.Handler{
		"baseline":           baseline,
		"hotpath":            hp.Gateway(),
		"hotpath-nometrics":  hpBare.Gateway(),
		"grpcgateway-inproc": mux,
		"vanguard":           vg,
	}
}

var calls = []struct {
	name, method, path, body string
}{
	{"time", http.MethodGet, "/v1/time", ""},
	{"echo", http.MethodPost, "/v1/echo", `{"message":"hello, hotpath","data":"AAECAwQFBgcICQ=="}`},
}

func serve(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Every candidate answers both calls, so the benchmark compares like with like.
func TestCandidatesAnswer(t *testing.T) {
	for name, h := range handlers(t) {
		if name == "baseline" {
			continue
		}
		for _, c := range calls {
			rec := serve(h, c.method, c.path, c.body)
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s: %d %s", name, c.name, rec.Code, rec.Body)
			}
			if c.name == "echo" && !strings.Contains(rec.Body.String(), "hello, hotpath") {
				t.Errorf("%s echo body %s", name, rec.Body)
			}
		}
	}
}

func BenchmarkTranscode(b *testing.B) {
	hs := handlers(b)
	for _, c := range calls {
		for _, name := range []string{"baseline", "hotpath", "hotpath-nometrics", "grpcgateway-inproc", "vanguard"} {
			h := hs[name]
			b.Run(c.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if rec := serve(h, c.method, c.path, c.body); rec.Code != http.StatusOK {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
