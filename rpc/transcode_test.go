package rpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	"google.golang.org/genproto/googleapis/rpc/status"
)

// AddHeader's rules, which adapters rely on to give handlers the same
// metadata as ServeHTTP (headerMD) does.
func TestCallAddHeader(t *testing.T) {
	tests := []struct {
		name          string
		headers       [][2]string
		wantMD        metadata.MD
		wantCT, wantT string
	}{
		{"common names are lower-cased", [][2]string{{"User-Agent", "a/1"}, {"X-Request-Id", "r"}},
			metadata.MD{"user-agent": {"a/1"}, "x-request-id": {"r"}}, "", ""},
		{"any case of other names", [][2]string{{"X-Tenant", "blue"}, {"x-ZONE", "z"}},
			metadata.MD{"x-tenant": {"blue"}, "x-zone": {"z"}}, "", ""},
		{"repeated names keep their values in order", [][2]string{{"X-A", "1"}, {"X-B", "2"}, {"x-a", "3"}},
			metadata.MD{"x-a": {"1", "3"}, "x-b": {"2"}}, "", ""},
		{"hop-by-hop, Content-Length and Host are dropped", [][2]string{{"Connection", "close"}, {"te", "trailers"},
			{"Content-Length", "2"}, {"Host", "h"}, {"Upgrade", "x"}, {"transfer-encoding", "chunked"}}, nil, "", ""},
		{"Content-Type is metadata and ContentType", [][2]string{{"content-type", "application/json"}},
			metadata.MD{"content-type": {"application/json"}}, "application/json", ""},
		{"Grpc-Timeout is Timeout, not metadata", [][2]string{{"GRPC-TIMEOUT", "5S"}}, nil, "", "5S"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Call
			name, value := make([]byte, 0, 64), make([]byte, 0, 64)
			for _, h := range tc.headers {
				name, value = append(name[:0], h[0]...), append(value[:0], h[1]...)
				c.AddHeader(name, value)
				clear(name[:cap(name)]) // AddHeader must have copied them
				clear(value[:cap(value)])
			}
			c.prepare()
			if md := c.metadata(); !reflect.DeepEqual(md, tc.wantMD) {
				t.Errorf("metadata %v, want %v", md, tc.wantMD)
			}
			if c.ContentType != tc.wantCT || c.Timeout != tc.wantT {
				t.Errorf("ContentType %q Timeout %q, want %q %q", c.ContentType, c.Timeout, tc.wantCT, tc.wantT)
			}
		})
	}
}

// mappedStatuses are the statuses Transcode may answer for input it is
// given (handler codes other than these cannot come from bad input).
var mappedStatuses = map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 413: true, 415: true, 504: true}

// FuzzTranscode feeds arbitrary methods, paths, bodies, content types,
// timeouts and header names to the core: it never panics, answers one of
// the mapped statuses, and every error body is a google.rpc.Status.
func FuzzTranscode(f *testing.F) {
	f.Add("GET", "/v1/time", "", "", "", "X-Tenant")
	f.Add("POST", "/v1/echo", `{"message":"x","data":"AAE="}`, "application/json; charset=utf-8", "5S", "x-a")
	f.Add("POST", "/v1/echo", `{"message":`, "application/json", "1n", "Grpc-Timeout")
	f.Add("DELETE", "/v1/time", "", "text/plain", "soon", "Host")
	f.Add("HEAD", "/v1/nothing", "\xff", ";;", "99999999H", "\x00\xff")
	s, err := New(Config{MaxRecvMsgSize: 1 << 10}, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Stop()
	gw := s.Gateway()
	f.Fuzz(func(t *testing.T, method, path, body, ctype, timeout, hdr string) {
		c := Call{Method: method, Path: path, Body: []byte(body)}
		c.AddHeader([]byte("Content-Type"), []byte(ctype))
		c.AddHeader([]byte("grpc-timeout"), []byte(timeout))
		c.AddHeader([]byte(hdr), []byte(body))
		out := gw.Transcode(context.Background(), &c, nil)
		if !mappedStatuses[c.Status] {
			t.Fatalf("%s %s %q (ct %q, timeout %q): status %d %s", method, path, body, ctype, timeout, c.Status, out)
		}
		if c.Status != http.StatusOK {
			var st status.Status
			if err := protojson.Unmarshal(out, &st); err != nil {
				t.Fatalf("error body %s: %v", out, err)
			}
		}
	})
}

// A body cut off by http.MaxBytesReader (the MaxBytes middleware, for a
// body without a declared length) is 413, not a 400 read error.
func TestGatewayMaxBytesReaderIs413(t *testing.T) {
	s, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/echo", strings.NewReader(`{"message":"longer than eight bytes"}`))
	req.ContentLength = -1
	req.Body = http.MaxBytesReader(rec, req.Body, 8)
	s.Gateway().ServeHTTP(rec, req)
	var st status.Status
	if rec.Code != http.StatusRequestEntityTooLarge || protojson.Unmarshal(rec.Body.Bytes(), &st) != nil || st.GetCode() != 8 {
		t.Errorf("status %d %s, want 413 with RESOURCE_EXHAUSTED", rec.Code, rec.Body)
	}
}
