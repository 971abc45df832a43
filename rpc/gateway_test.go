package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"google.golang.org/genproto/googleapis/rpc/status"
)

func doHTTP(t *testing.T, method, url, ctype, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// The transcoded endpoints return what the gRPC methods return.
func TestGatewayMatchesGRPC(t *testing.T) {
	ts := start(t, Config{}, false)

	now, err := hotpathv1.NewTimeServiceClient(ts.conn).Now(ctxT(t), &hotpathv1.NowRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := doHTTP(t, http.MethodGet, ts.http+"/v1/time", "", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/time: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var gotNow hotpathv1.NowResponse
	if err := protojson.Unmarshal(body, &gotNow); err != nil {
		t.Fatalf("GET /v1/time body %s: %v", body, err)
	}
	if gotNow.GetUnixMs() != now.GetUnixMs() {
		t.Errorf("JSON unixMs %d != gRPC %d", gotNow.GetUnixMs(), now.GetUnixMs())
	}
	if want := `"unixMs":"` + strconv.FormatInt(fixedNow.UnixMilli(), 10) + `"`; !strings.Contains(string(body), want) {
		t.Errorf("body %s lacks %s (proto3 JSON: int64 as string)", body, want)
	}

	grpcEcho, err := hotpathv1.NewEchoServiceClient(ts.conn).Echo(
		metadata.AppendToOutgoingContext(ctxT(t), "x-tenant", "blue"), &hotpathv1.EchoRequest{Message: "héllo", Data: []byte("raw")})
	if err != nil {
		t.Fatal(err)
	}
	resp, body = doHTTP(t, http.MethodPost, ts.http+"/v1/echo", "application/json; charset=utf-8",
		`{"message":"héllo","data":"cmF3"}`, map[string]string{"X-Tenant": "blue", "X-Request-Id": "json-1"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/echo: %d %s", resp.StatusCode, body)
	}
	var gotEcho hotpathv1.EchoResponse
	if err := protojson.Unmarshal(body, &gotEcho); err != nil {
		t.Fatal(err)
	}
	if gotEcho.GetMessage() != grpcEcho.GetMessage() || !bytes.Equal(gotEcho.GetData(), grpcEcho.GetData()) {
		t.Errorf("JSON echo %q %q != gRPC echo %q %q", gotEcho.GetMessage(), gotEcho.GetData(), grpcEcho.GetMessage(), grpcEcho.GetData())
	}
	if gotEcho.GetMetadata()["x-tenant"] != "blue" || grpcEcho.GetMetadata()["x-tenant"] != "blue" {
		t.Errorf("metadata: JSON %v, gRPC %v; both need x-tenant=blue", gotEcho.GetMetadata(), grpcEcho.GetMetadata())
	}
	if got := resp.Header.Get("X-Request-Id"); got != "json-1" {
		t.Errorf("X-Request-Id = %q, want json-1 (set by the same interceptor as gRPC)", got)
	}
}

// Gateway calls go through the same interceptors: metrics count them.
func TestGatewayUsesTheInterceptors(t *testing.T) {
	probe := deadlineProbe{got: make(chan time.Duration, 1)}
	ts := start(t, Config{AuthToken: "tok", UnaryInterceptors: []grpc.UnaryServerInterceptor{probe.unary}}, false)
	resp, body := doHTTP(t, http.MethodGet, ts.http+"/v1/time", "", "", map[string]string{"Authorization": "Bearer tok", "Grpc-Timeout": "4S"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorized GET: %d %s", resp.StatusCode, body)
	}
	if d := <-probe.got; d <= 0 || d > 4*time.Second {
		t.Errorf("handler deadline from Grpc-Timeout: %v left, want in (0, 4s]", d)
	}
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "hotpath_grpc_server_handled_total" {
			for _, m := range mf.GetMetric() {
				if m.GetCounter().GetValue() == 1 && strings.Contains(m.String(), "TimeService/Now") {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("gateway call not counted in hotpath_grpc_server_handled_total")
	}
}

func TestGatewayErrors(t *testing.T) {
	ts := start(t, Config{MaxRecvMsgSize: 64, AuthToken: "tok"}, false)
	auth := map[string]string{"Authorization": "Bearer tok"}
	cases := []struct {
		name, method, path, ctype, body string
		hdr                             map[string]string
		wantHTTP                        int
		wantCode                        int32 // google.rpc.Code in the body
	}{
		{"invalid JSON", http.MethodPost, "/v1/echo", "application/json", `{"message":`, auth, 400, 3},
		{"unknown field", http.MethodPost, "/v1/echo", "application/json", `{"nope":1}`, auth, 400, 3},
		{"wrong field type", http.MethodPost, "/v1/echo", "application/json", `{"message":5}`, auth, 400, 3},
		{"unknown path", http.MethodGet, "/v1/nothing", "", "", auth, 404, 5},
		{"wrong method on a known path", http.MethodDelete, "/v1/time", "", "", auth, 405, 12},
		{"body over the limit", http.MethodPost, "/v1/echo", "application/json", `{"message":"` + strings.Repeat("x", 100) + `"}`, auth, 413, 8},
		{"not JSON content type", http.MethodPost, "/v1/echo", "text/plain", `{}`, auth, 415, 3},
		{"bad Grpc-Timeout", http.MethodGet, "/v1/time", "", "", map[string]string{"Authorization": "Bearer tok", "Grpc-Timeout": "soon"}, 400, 3},
		{"no token", http.MethodGet, "/v1/time", "", "", nil, 401, 16},
		{"wrong token", http.MethodGet, "/v1/time", "", "", map[string]string{"Authorization": "Bearer bad"}, 401, 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := doHTTP(t, tc.method, ts.http+tc.path, tc.ctype, tc.body, tc.hdr)
			if resp.StatusCode != tc.wantHTTP {
				t.Errorf("status %d, want %d (body %s)", resp.StatusCode, tc.wantHTTP, body)
			}
			var st status.Status
			if err := protojson.Unmarshal(body, &st); err != nil {
				t.Fatalf("body %s is not a google.rpc.Status: %v", body, err)
			}
			if st.GetCode() != tc.wantCode || st.GetMessage() == "" {
				t.Errorf("status body code %d message %q, want code %d with a message", st.GetCode(), st.GetMessage(), tc.wantCode)
			}
		})
	}
	t.Run("405 names the allowed method", func(t *testing.T) {
		resp, _ := doHTTP(t, http.MethodPost, ts.http+"/v1/time", "", "", auth)
		if got := resp.Header.Get("Allow"); got != "GET" {
			t.Errorf("Allow = %q, want GET", got)
		}
	})
	t.Run("HEAD answers like GET without a body", func(t *testing.T) {
		resp, body := doHTTP(t, http.MethodHead, ts.http+"/v1/time", "", "", auth)
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("HEAD /v1/time: %d %q body %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("empty body is an empty message", func(t *testing.T) {
		resp, body := doHTTP(t, http.MethodPost, ts.http+"/v1/echo", "", "", auth)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("empty POST: %d %s", resp.StatusCode, body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil || m["message"] != "" {
			t.Errorf("empty POST body %s: %v", body, err)
		}
	})
}

// Behind an HTTP middleware that already set X-Request-Id (passing the same
// ID on as a request header), the response carries one X-Request-Id line.
func TestGatewayRequestIDNotDuplicated(t *testing.T) {
	s, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	mw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "mw-7")
		r.Header.Set("X-Request-Id", "mw-7")
		s.Gateway().ServeHTTP(w, r)
	})
	rec := httptest.NewRecorder()
	mw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/time", nil))
	if got := rec.Header().Values("X-Request-Id"); len(got) != 1 || got[0] != "mw-7" {
		t.Errorf("X-Request-Id = %q, want exactly [mw-7]", got)
	}
}

// A handler chain that returns a bare context error answers 504, as grpc-go
// would answer DEADLINE_EXCEEDED, not 500.
func TestGatewayContextErrorIsDeadlineExceeded(t *testing.T) {
	expire := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
		return nil, context.DeadlineExceeded
	}
	s, err := New(Config{UnaryInterceptors: []grpc.UnaryServerInterceptor{expire}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	rec := httptest.NewRecorder()
	s.Gateway().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/time", nil))
	if rec.Code != http.StatusGatewayTimeout {
		t.Errorf("status %d %s, want 504", rec.Code, rec.Body)
	}
}

// The gateway answers directly through httptest too (no server needed),
// which is how the benchmarks drive it.
func TestGatewayInProcess(t *testing.T) {
	s, err := New(Config{Now: func() time.Time { return fixedNow }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	rec := httptest.NewRecorder()
	s.Gateway().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/time", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), strconv.FormatInt(fixedNow.UnixMilli(), 10)) {
		t.Fatalf("in-process GET /v1/time: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get(RequestIDKey) == "" {
		t.Errorf("no X-Request-Id header from the interceptor")
	}
}

// FuzzGatewayEcho feeds arbitrary bodies to POST /v1/echo: the gateway
// answers 200 or a 4xx google.rpc.Status, never a panic or a 5xx.
func FuzzGatewayEcho(f *testing.F) {
	for _, s := range []string{`{}`, `{"message":"x","data":"AAE="}`, `{"message":`, `[]`, `null`, `{"data":"!!"}`, "\xff"} {
		f.Add(s)
	}
	s, err := New(Config{MaxRecvMsgSize: 1 << 10}, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Stop()
	gw := s.Gateway()
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/echo", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		gw.ServeHTTP(rec, req)
		if rec.Code != 200 && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code != 200 {
			var st status.Status
			if err := protojson.Unmarshal(rec.Body.Bytes(), &st); err != nil {
				t.Fatalf("error body %s: %v", rec.Body, err)
			}
		}
	})
}
