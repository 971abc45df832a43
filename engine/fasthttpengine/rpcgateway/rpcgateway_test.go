package rpcgateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/rpc"
	"github.com/hotpath-dev/hotpath/server"

	"google.golang.org/genproto/googleapis/rpc/status"
)

var fixedNow = time.UnixMilli(1764000000123)

// newGateway starts an rpc.Server with a fixed clock, no metrics, the
// bearer token "tok" and a 64-byte message limit.
func newGateway(tb testing.TB) *rpc.Gateway {
	tb.Helper()
	s, err := rpc.New(rpc.Config{Now: func() time.Time { return fixedNow }, AuthToken: "tok", MaxRecvMsgSize: 64}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s.Gateway()
}

// request is one gateway request, for both adapters.
type request struct {
	method, path, body string
	header             [][2]string // in order; a name may repeat
}

func (r request) fasthttp() *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(r.method)
	req.SetRequestURI(r.path)
	for _, kv := range r.header {
		req.Header.Add(kv[0], kv[1])
	}
	if r.body != "" {
		req.SetBodyString(r.body)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	return &ctx
}

func (r request) nethttp() *http.Request {
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	for _, kv := range r.header {
		req.Header.Add(kv[0], kv[1])
	}
	return req
}

// answer is what a client sees of a response.
type answer struct {
	status                           int
	contentType, nosniff, allow, rid string
	body                             string
}

// The fasthttp adapter answers every request exactly as ServeHTTP does:
// same status, body and headers, from the one core (Transcode).
func TestHandlerMatchesServeHTTP(t *testing.T) {
	gw := newGateway(t)
	h := Handler(gw)
	auth := [2]string{"Authorization", "Bearer tok"}
	rid := [2]string{"X-Request-Id", "req-1"}
	json := [2]string{"Content-Type", "application/json"}
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantCode   int32 // google.rpc.Code of an error body
	}{
		{"GET /v1/time", request{"GET", "/v1/time", "", [][2]string{auth, rid}}, 200, 0},
		{"HEAD is GET", request{"HEAD", "/v1/time", "", [][2]string{auth, rid}}, 200, 0},
		{"POST /v1/echo returns the metadata", request{"POST", "/v1/echo", `{"message":"héllo","data":"cmF3"}`,
			[][2]string{auth, rid, json, {"X-Tenant", "blue"}, {"User-Agent", "t/1"}}}, 200, 0},
		{"repeated header names keep every value in order", request{"POST", "/v1/echo", `{}`,
			[][2]string{auth, rid, {"X-Tenant", "blue"}, {"X-Tenant", "green"}, {"x-lower", "1"}}}, 200, 0},
		{"hop-by-hop headers and Grpc-Timeout are not metadata", request{"POST", "/v1/echo", `{}`,
			[][2]string{auth, rid, {"Te", "trailers"}, {"Grpc-Timeout", "5S"}, {"Keep-Alive", "1"}}}, 200, 0},
		{"empty body is an empty message", request{"POST", "/v1/echo", "", [][2]string{auth, rid}}, 200, 0},
		{"content type with parameters", request{"POST", "/v1/echo", `{"message":"x"}`,
			[][2]string{auth, rid, {"Content-Type", "application/json; charset=utf-8"}}}, 200, 0},
		{"bad JSON", request{"POST", "/v1/echo", `{"message":`, [][2]string{auth, rid, json}}, 400, 3},
		{"unknown field", request{"POST", "/v1/echo", `{"nope":1}`, [][2]string{auth, rid, json}}, 400, 3},
		{"wrong method names the allowed one", request{"DELETE", "/v1/time", "", [][2]string{auth, rid}}, 405, 12},
		{"unknown path", request{"GET", "/v1/nothing", "", [][2]string{auth, rid}}, 404, 5},
		{"wrong content type", request{"POST", "/v1/echo", `{}`, [][2]string{auth, rid, {"Content-Type", "text/plain"}}}, 415, 3},
		{"bad grpc-timeout", request{"GET", "/v1/time", "", [][2]string{auth, rid, {"Grpc-Timeout", "soon"}}}, 400, 3},
		{"body over the limit", request{"POST", "/v1/echo", `{"message":"` + strings.Repeat("x", 100) + `"}`, [][2]string{auth, rid, json}}, 413, 8},
		{"no token", request{"GET", "/v1/time", "", [][2]string{rid}}, 401, 16},
		{"wrong token", request{"GET", "/v1/time", "", [][2]string{{"Authorization", "Bearer bad"}, rid}}, 401, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			gw.ServeHTTP(rec, tc.req.nethttp())
			want := answer{rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("X-Content-Type-Options"),
				rec.Header().Get("Allow"), rec.Header().Get("X-Request-Id"), rec.Body.String()}

			ctx := tc.req.fasthttp()
			h(ctx)
			rh := &ctx.Response.Header
			got := answer{ctx.Response.StatusCode(), string(rh.ContentType()), string(rh.Peek("X-Content-Type-Options")),
				string(rh.Peek("Allow")), string(rh.Peek("X-Request-Id")), string(ctx.Response.Body())}

			if got != want {
				t.Errorf("fasthttp adapter:\n got %+v\nwant %+v (ServeHTTP)", got, want)
			}
			if got.status != tc.wantStatus {
				t.Errorf("status %d, want %d (%s)", got.status, tc.wantStatus, got.body)
			}
			if tc.wantStatus != 200 {
				var st status.Status
				if err := protojson.Unmarshal([]byte(got.body), &st); err != nil || st.GetCode() != tc.wantCode || got.nosniff != "nosniff" {
					t.Errorf("error body %s (%v), nosniff %q; want a google.rpc.Status with code %d and nosniff", got.body, err, got.nosniff, tc.wantCode)
				}
			}
		})
	}
}

// echoMetadata calls POST /v1/echo through h and returns the response's
// X-Request-Id lines and the metadata the handler saw.
func echoMetadata(t *testing.T, h fasthttp.RequestHandler, header [][2]string) (ids []string, md map[string]string) {
	t.Helper()
	ctx := request{"POST", "/v1/echo", `{}`, header}.fasthttp()
	h(ctx)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("POST /v1/echo: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	for _, v := range ctx.Response.Header.PeekAll("X-Request-Id") {
		ids = append(ids, string(v))
	}
	var body struct{ Metadata map[string]string }
	if err := json.Unmarshal(ctx.Response.Body(), &body); err != nil {
		t.Fatal(err)
	}
	return ids, body.Metadata
}

// Behind the engine's chain, the chain's request ID is the call's: the
// interceptors reuse it, the handler sees it, the response has it once.
func TestHandlerBehindEngineUsesItsRequestID(t *testing.T) {
	s, err := fasthttpengine.New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff})
	if err != nil {
		t.Fatal(err)
	}
	gw := newGateway(t)
	s.Handle("/v1/", Handler(gw))
	auth := [2]string{"Authorization", "Bearer tok"}
	tests := []struct {
		name   string
		header [][2]string
		want   string // "" = generated
	}{
		{"a valid incoming ID is kept", [][2]string{auth, {"X-Request-ID", "abc-1"}}, "abc-1"},
		{"none: the engine generates one", [][2]string{auth}, ""},
		{"an invalid incoming ID is replaced, not added to", [][2]string{auth, {"X-Request-ID", "has space"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, md := echoMetadata(t, s.Handler(), tc.header)
			if len(ids) != 1 || (tc.want != "" && ids[0] != tc.want) || ids[0] == "has space" {
				t.Fatalf("X-Request-Id lines %q, want exactly one (%q)", ids, tc.want)
			}
			if md["x-request-id"] != ids[0] {
				t.Errorf("handler saw x-request-id %q, response has %q", md["x-request-id"], ids[0])
			}
		})
	}
}

// Without the engine (a bare fasthttp server), an incoming X-Request-Id is
// plain metadata, reused by the interceptors.
func TestHandlerWithoutEngine(t *testing.T) {
	ids, md := echoMetadata(t, Handler(newGateway(t)), [][2]string{{"Authorization", "Bearer tok"}, {"X-Request-Id", "bare-1"}})
	if len(ids) != 1 || ids[0] != "bare-1" || md["x-request-id"] != "bare-1" {
		t.Errorf("X-Request-Id %q, metadata %q; want bare-1 in both", ids, md["x-request-id"])
	}
}

// TestTimeAllocs reports the allocations of GET /v1/time through the
// adapter (interceptors without metrics); BenchmarkFastHTTPGateway has the
// figures with metrics and beside net/http. No bound is asserted: the count
// is not zero, and grpc-go and protobuf own most of it.
func TestTimeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	h := Handler(newGateway(t))
	ctx := request{"GET", "/v1/time", "", [][2]string{{"Authorization", "Bearer tok"}}}.fasthttp()
	h(ctx)
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h(ctx)
	})
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("GET /v1/time: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	t.Logf("GET /v1/time through the fasthttp adapter: %.0f allocs per request", allocs)
}
