package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBareServer(t *testing.T) {
	ts := httptest.NewServer(newMux())
	defer ts.Close()
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"time answers", "GET", "/time", 200},
		{"HEAD works", "HEAD", "/time", 200},
		{"nothing else is served", "GET", "/json", 404},
		{"wrong method", "POST", "/time", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().UnixMilli()
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, nil)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 200 && tt.method == "GET" {
				n, err := strconv.ParseInt(string(b), 10, 64)
				if err != nil || n < before || n > time.Now().UnixMilli() {
					t.Errorf("body %q is not the current Unix ms", b)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
}

func TestSpinMuxServesTime(t *testing.T) {
	n := spinSteps(time.Microsecond)
	if n <= 0 {
		t.Fatalf("spinSteps(1µs) = %d, want > 0", n)
	}
	ts := httptest.NewServer(spinMux(n))
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/time")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}
