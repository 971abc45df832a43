package service

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, ready *Readiness) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	Register(mux)
	for _, r := range Probes(ready) {
		mux.Handle(r.Pattern, r.Handler)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Readiness{})
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		ctype     string
		wantCode  int
		wantType  string // exact Content-Type, "" = not checked
		wantBody  string // exact body, "" = not checked
		wantAllow string
	}{
		{"json body is the fixed message", "GET", "/json", "", "", 200, ContentTypeJSON, `{"message":"Hello, World!"}`, ""},
		{"echo returns body and content type", "POST", "/echo", `{"a":1}`, "application/x-test", 200, "application/x-test", `{"a":1}`, ""},
		{"echo of empty body", "POST", "/echo", "", "text/plain", 200, "text/plain", "", ""},
		{"delay zero answers ok", "GET", "/delay?ms=0", "", "", 200, ContentTypeText, "ok\n", ""},
		{"delay short answers ok", "GET", "/delay?ms=5", "", "", 200, ContentTypeText, "ok\n", ""},
		{"delay over bound is 400", "GET", "/delay?ms=10001", "", "", 400, "", "", ""},
		{"delay not an integer is 400", "GET", "/delay?ms=abc", "", "", 400, "", "", ""},
		{"delay missing ms is 400", "GET", "/delay", "", "", 400, "", "", ""},
		{"healthz", "GET", "/healthz", "", "", 200, ContentTypeText, "ok\n", ""},
		{"readyz when ready", "GET", "/readyz", "", "", 200, ContentTypeText, "ok\n", ""},
		{"HEAD works where GET does", "HEAD", "/time", "", "", 200, ContentTypeText, "", ""},
		{"unknown path is 404", "GET", "/nope", "", "", 404, "", "", ""},
		{"wrong method is 405 with Allow", "POST", "/time", "", "", 405, "", "", "GET, HEAD"},
		{"GET on POST route is 405", "GET", "/echo", "", "", 405, "", "", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tt.wantCode, b)
			}
			if tt.wantType != "" && resp.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), tt.wantType)
			}
			if tt.wantBody != "" && string(b) != tt.wantBody {
				t.Errorf("body = %q, want %q", b, tt.wantBody)
			}
			if tt.method == "HEAD" && len(b) != 0 {
				t.Errorf("HEAD returned a body %q", b)
			}
			if tt.wantAllow != "" && resp.Header.Get("Allow") != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", resp.Header.Get("Allow"), tt.wantAllow)
			}
		})
	}
}

func TestTimeIsNow(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Readiness{})
	before := time.Now().UnixMilli()
	resp, err := ts.Client().Get(ts.URL + "/time")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	after := time.Now().UnixMilli()
	got, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		t.Fatalf("body %q is not an integer: %v", b, err)
	}
	if got < before || got > after {
		t.Errorf("time %d not within [%d, %d]", got, before, after)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentTypeText {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestEchoWithoutContentTypeSniffsNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &Readiness{})
	req, _ := http.NewRequest("POST", ts.URL+"/echo", strings.NewReader("<html>"))
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		t.Errorf("Content-Type = %q, want none (the request sent none)", ct)
	}
}

func TestReadyzDraining(t *testing.T) {
	t.Parallel()
	var ready Readiness
	ts := newTestServer(t, &ready)
	for _, tc := range []struct {
		name     string
		draining bool
		want     int
	}{{"ready", false, 200}, {"draining", true, 503}, {"ready again", false, 200}} {
		ready.SetDraining(tc.draining)
		resp, err := ts.Client().Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: /readyz = %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		// Liveness never depends on draining.
		resp, err = ts.Client().Get(ts.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: /healthz = %d, want 200", tc.name, resp.StatusCode)
		}
	}
}

// TestDelayStopsOnCancel checks that /delay returns as soon as the request
// context ends instead of holding its goroutine for the full delay.
func TestDelayStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "GET", "/delay?ms=10000", nil)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { Delay(rec, req); close(done) }()
	cancel()
	<-done // would block for 10 s if cancellation were ignored; the test timeout catches it
	if rec.Body.Len() != 0 {
		t.Errorf("cancelled delay wrote %q", rec.Body.String())
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkTime(b *testing.B) {
	b.ReportAllocs()
	w := &discardWriter{h: http.Header{}}
	r := httptest.NewRequest("GET", "/time", nil)
	for b.Loop() {
		Time(w, r)
	}
}

func BenchmarkJSON(b *testing.B) {
	b.ReportAllocs()
	w := &discardWriter{h: http.Header{}}
	r := httptest.NewRequest("GET", "/json", nil)
	for b.Loop() {
		JSON(w, r)
	}
}
