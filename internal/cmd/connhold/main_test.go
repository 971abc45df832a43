package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"all connections held", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("1")) }, ""},
		{"non-200 is an error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, "answered 503"},
		{"server closing the connection is an error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
		}, "closed the keep-alive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			addr := strings.TrimPrefix(srv.URL, "http://")
			conns, err := open(context.Background(), addr, "/time", 20, 4, 5*time.Second)
			closeAll(conns)
			if tc.wantErr == "" {
				if err != nil || len(conns) != 20 {
					t.Fatalf("got %d conns, err %v; want 20, nil", len(conns), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-n", "0"}} {
		if code := run(args, io.Discard, io.Discard); code != 2 {
			t.Fatalf("run %v: exit %d, want 2", args, code)
		}
	}
}
