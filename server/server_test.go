package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"

	"github.com/hotpath-dev/hotpath/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer is a Server running Run on 127.0.0.1:0 until the test ends.
type testServer struct {
	s        *Server
	url      string // public base URL
	adminURL string // admin base URL, "" when off
	cancel   context.CancelFunc
	done     chan error
}

// start runs a server for cfg with loopback :0 listeners and opts; mount
// (optional) adds handlers before it starts. Cleanup stops it and fails the
// test if Run did not return nil.
func start(t *testing.T, cfg Config, mount func(*Server), opts ...Option) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.AdminAddr == "" {
		cfg.AdminAddr = "127.0.0.1:0"
	}
	s, err := New(cfg, append([]Option{WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	service.Register(s)
	if mount != nil {
		mount(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{s: s, cancel: cancel, done: make(chan error, 1)}
	scheme := "http://"
	if cfg.TLSSelfSigned || cfg.TLSCert != "" {
		scheme = "https://"
	}
	ts.url = scheme + s.Addr().String()
	if a := s.AdminAddr(); a != nil {
		ts.adminURL = "http://" + a.String()
	}
	go func() { ts.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ts.done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	})
	return ts
}

// client returns an HTTP/1.1 client whose idle connections close at the
// end of the test (goleak would flag them).
func client(t *testing.T, tr *http.Transport) *http.Client {
	t.Helper()
	if tr == nil {
		tr = &http.Transport{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

type result struct {
	code int
	hdr  http.Header
	body string
	err  error
}

func do(c *http.Client, req *http.Request) result {
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, hdr: resp.Header, body: string(b), err: err}
}

func TestStatuses(t *testing.T) {
	t.Parallel()
	const token = "t0ken"
	tests := []struct {
		name     string
		cfg      Config
		method   string
		path     string
		body     string
		header   http.Header
		wantCode int
		wantHdr  map[string]string // exact header values
		wantBody string            // substring
	}{
		{"time is 200 text", Config{}, "GET", "/time", "", nil, 200, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, ""},
		{"json is 200", Config{}, "GET", "/json", "", nil, 200, map[string]string{"Content-Type": "application/json"}, "Hello, World!"},
		{"echo returns body and type", Config{}, "POST", "/echo", "hi", http.Header{"Content-Type": {"text/x-hi"}}, 200, map[string]string{"Content-Type": "text/x-hi"}, "hi"},
		{"HEAD where GET works", Config{}, "HEAD", "/json", "", nil, 200, nil, ""},
		{"every response has a request id", Config{}, "GET", "/healthz", "", http.Header{"X-Request-Id": {"abc-123"}}, 200, map[string]string{"X-Request-Id": "abc-123"}, "ok"},
		{"delay over 10000 is 400", Config{}, "GET", "/delay?ms=10001", "", nil, 400, nil, ""},
		{"delay not an integer is 400", Config{}, "GET", "/delay?ms=1s", "", nil, 400, nil, ""},
		{"unknown path is 404", Config{}, "GET", "/nope", "", nil, 404, nil, ""},
		{"pprof is 404 on the public port", Config{}, "GET", "/debug/pprof/", "", nil, 404, nil, ""},
		{"metrics is 404 on the public port", Config{}, "GET", "/metrics", "", nil, 404, nil, ""},
		{"wrong method is 405 with Allow", Config{}, "DELETE", "/time", "", nil, 405, map[string]string{"Allow": "GET, HEAD"}, ""},
		{"auth route without token is 401", Config{AuthTokens: []string{token}, AuthRoutes: []string{"/echo"}}, "POST", "/echo", "x", nil, 401, nil, ""},
		{"auth route with wrong token is 401", Config{AuthTokens: []string{token}, AuthRoutes: []string{"/echo"}}, "POST", "/echo", "x", http.Header{"Authorization": {"Bearer nope"}}, 401, nil, ""},
		{"auth route with token is 200", Config{AuthTokens: []string{token}, AuthRoutes: []string{"/echo"}}, "POST", "/echo", "x", http.Header{"Authorization": {"Bearer " + token}}, 200, nil, "x"},
		{"route outside auth routes needs no token", Config{AuthTokens: []string{token}, AuthRoutes: []string{"/echo"}}, "GET", "/time", "", nil, 200, nil, ""},
		{"probes need no token under the default auth routes", Config{AuthTokens: []string{token}}, "GET", "/readyz", "", nil, 200, nil, ""},
		{"default auth routes cover the service", Config{AuthTokens: []string{token}}, "GET", "/time", "", nil, 401, nil, ""},
		{"body over max-body-bytes is 413", Config{MaxBodyBytes: 16}, "POST", "/echo", strings.Repeat("x", 100), nil, 413, nil, ""},
		{"body at max-body-bytes is 200", Config{MaxBodyBytes: 16}, "POST", "/echo", strings.Repeat("x", 16), nil, 200, nil, ""},
		{"CORS preflight from an allowed origin", Config{CORSOrigins: []string{"https://a.example"}}, "OPTIONS", "/time", "", http.Header{"Origin": {"https://a.example"}, "Access-Control-Request-Method": {"GET"}}, 204, map[string]string{"Access-Control-Allow-Origin": "https://a.example"}, ""},
		{"CORS simple request from an allowed origin", Config{CORSOrigins: []string{"https://a.example"}}, "GET", "/time", "", http.Header{"Origin": {"https://a.example"}}, 200, map[string]string{"Access-Control-Allow-Origin": "https://a.example"}, ""},
		{"CORS other origin gets no CORS headers", Config{CORSOrigins: []string{"https://a.example"}}, "GET", "/time", "", http.Header{"Origin": {"https://evil.example"}}, 200, map[string]string{"Access-Control-Allow-Origin": ""}, ""},
		{"CORS preflight needs no token", Config{CORSOrigins: []string{"*"}, AuthTokens: []string{token}}, "OPTIONS", "/echo", "", http.Header{"Origin": {"https://a.example"}, "Access-Control-Request-Method": {"POST"}}, 204, map[string]string{"Access-Control-Allow-Origin": "*"}, ""},
		{"handler slower than request-timeout is 503", Config{RequestTimeout: 50 * time.Millisecond}, "GET", "/delay?ms=5000", "", nil, 503, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, tt.cfg, nil)
			req, err := http.NewRequest(tt.method, ts.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			r := do(client(t, nil), req)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.code != tt.wantCode {
				t.Fatalf("status = %d, want %d (body %q)", r.code, tt.wantCode, r.body)
			}
			for k, v := range tt.wantHdr {
				if got := r.hdr.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("body %q lacks %q", r.body, tt.wantBody)
			}
			if tt.method == "HEAD" && r.body != "" {
				t.Errorf("HEAD has a body %q", r.body)
			}
			if r.code == 401 && !strings.HasPrefix(r.hdr.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer WWW-Authenticate: %q", r.hdr.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestHeaderLimit431 uses a raw connection: net/http answers 431 and
// closes with request bytes unread, and http.Transport sometimes reports
// the resulting reset instead of the response.
func TestHeaderLimit431(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{MaxHeaderBytes: 1024}, nil)
	tests := []struct {
		name    string
		hdrSize int
		want    int
	}{
		{"under the limit is served", 512, 200},
		// net/http grants 4096 bytes of slack over MaxHeaderBytes.
		{"over the limit plus slack is 431", 8 << 10, 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ts.s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := "GET /time HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", tt.hdrSize) + "\r\n\r\n"
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format string
		want   string
	}{
		{"text", "text", "path=/time"},
		{"json", "json", `"path":"/time"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf lockedBuffer
			s, err := New(Config{Addr: "127.0.0.1:0", AdminAddr: "off", AccessLog: true, AccessLogFormat: tt.format}, WithAccessLogOutput(&buf))
			if err != nil {
				t.Fatal(err)
			}
			service.Register(s)
			if err := s.Listen(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			req, _ := http.NewRequest("GET", "http://"+s.Addr().String()+"/time", nil)
			if r := do(client(t, nil), req); r.code != 200 {
				t.Fatalf("GET /time = %d %v", r.code, r.err)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Shutdown flushed the buffered log.
			if !strings.Contains(buf.String(), tt.want) {
				t.Errorf("access log %q lacks %q", buf.String(), tt.want)
			}
		})
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRateLimit429(t *testing.T) {
	t.Parallel()
	// One request per 100 s with a burst of 1: the second is over the limit
	// however slow the machine is.
	ts := start(t, Config{RateLimit: 0.01, RateBurst: 1}, nil)
	c := client(t, nil)
	get := func() result {
		req, _ := http.NewRequest("GET", ts.url+"/time", nil)
		return do(c, req)
	}
	if r := get(); r.code != 200 {
		t.Fatalf("first request = %d %v, want 200", r.code, r.err)
	}
	r := get()
	if r.code != 429 {
		t.Fatalf("second request = %d %v, want 429", r.code, r.err)
	}
	if r.hdr.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// waitInFlight blocks until the admin /metrics reports a request in flight.
func waitInFlight(t *testing.T, c *http.Client, adminURL string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", adminURL+"/metrics", nil)
		r := do(c, req)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if strings.Contains(r.body, "\nhotpath_http_requests_in_flight 1\n") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the slow request never became in flight")
}

func TestShed503(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{MaxInFlight: 1}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	slow := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/delay?ms=10000", nil)
		slow <- do(client(t, nil), req)
	}()
	// Probing with requests could itself take the one slot; the gauge
	// cannot.
	waitInFlight(t, client(t, nil), ts.adminURL)
	req, _ := http.NewRequest("GET", ts.url+"/time", nil)
	r := do(client(t, nil), req)
	if r.code != 503 {
		t.Fatalf("request over max-inflight = %d %v, want 503", r.code, r.err)
	}
	if r.hdr.Get("Retry-After") == "" {
		t.Error("shed 503 without Retry-After")
	}
	cancel()
	<-slow
}

// TestMaxConnections: with a cap of 1, a second connection is not served
// while the first stays open, and is served once it closes.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{MaxConnections: 1}, nil)
	addr := ts.s.Addr().String()
	a, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const req = "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(a, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(a), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	b, err := net.Dial("tcp", addr) // completes: the kernel queues it
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := io.WriteString(b, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(b)
	b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("second connection served while the first holds the only slot")
	}
	a.Close()
	b.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("second connection after the first closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestDelayStopsOnDisconnect: a client that gives up on /delay frees its
// handler long before the delay would have ended.
func TestDelayStopsOnDisconnect(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	slow := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/delay?ms=10000", nil)
		slow <- do(client(t, nil), req)
	}()
	c := client(t, nil)
	waitInFlight(t, c, ts.adminURL)
	cancel()
	<-slow
	// The 10 s delay must not run out: the gauge drops once the handler sees
	// the disconnect. The 8 s bound only separates "stopped early" from
	// "ran to the end"; it is not a speed assertion.
	deadline := time.Now().Add(8 * time.Second)
	for {
		req, _ := http.NewRequest("GET", ts.adminURL+"/metrics", nil)
		if r := do(c, req); strings.Contains(r.body, "\nhotpath_http_requests_in_flight 0\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("/delay handler still running after its client disconnected")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRecoverKeepsServing(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{}, func(s *Server) {
		s.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	})
	c := client(t, nil)
	for _, tc := range []struct {
		path string
		want int
	}{{"/boom", 500}, {"/time", 200}, {"/boom", 500}, {"/json", 200}} {
		req, _ := http.NewRequest("GET", ts.url+tc.path, nil)
		if r := do(c, req); r.code != tc.want {
			t.Errorf("%s = %d %v, want %d", tc.path, r.code, r.err, tc.want)
		}
	}
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		token    string
		auth     string
		path     string
		wantCode int
		wantBody string
	}{
		{"pprof index", "", "", "/debug/pprof/", 200, "goroutine"},
		{"pprof named profile", "", "", "/debug/pprof/heap?debug=1", 200, "heap profile"},
		{"pprof cmdline", "", "", "/debug/pprof/cmdline", 200, ""},
		{"metrics has runtime and process collectors", "", "", "/metrics", 200, "process_cpu_seconds_total"},
		{"metrics has go collector", "", "", "/metrics", 200, "go_goroutines"},
		{"metrics has HTTP metrics", "", "", "/metrics", 200, "hotpath_http_requests_in_flight"},
		{"service routes are not on admin", "", "", "/time", 404, ""},
		{"token required when set", "adm", "", "/metrics", 401, ""},
		{"wrong token", "adm", "Bearer nope", "/debug/pprof/", 401, ""},
		{"right token", "adm", "Bearer adm", "/metrics", 200, "go_goroutines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, Config{AdminToken: tt.token}, nil)
			req, _ := http.NewRequest("GET", ts.adminURL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			r := do(client(t, nil), req)
			if r.err != nil || r.code != tt.wantCode {
				t.Fatalf("%s = %d %v, want %d", tt.path, r.code, r.err, tt.wantCode)
			}
			if !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("body lacks %q", tt.wantBody)
			}
		})
	}
}

func TestHTTP2OverTLS(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{TLSSelfSigned: true}, nil)
	tests := []struct {
		name      string
		tr        *http.Transport
		wantMajor int
		wantALPN  string
	}{
		{"h2 via ALPN", &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}, 2, "h2"},
		{"http/1.1 client still served", &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}, 1, "http/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client(t, tt.tr).Get(ts.url + "/time")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != tt.wantMajor {
				t.Errorf("got %d over %s, want 200 over HTTP/%d", resp.StatusCode, resp.Proto, tt.wantMajor)
			}
			if resp.TLS == nil || resp.TLS.NegotiatedProtocol != tt.wantALPN {
				t.Errorf("ALPN = %+v, want %q", resp.TLS, tt.wantALPN)
			}
		})
	}
	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}
		if resp, err := client(t, tr).Get(ts.url + "/time"); err == nil {
			resp.Body.Close()
			t.Fatal("a TLS 1.1 client was served")
		}
	})
	t.Run("session resumption", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(4)}}
		c := client(t, tr)
		for i, wantResume := range []bool{false, true} {
			resp, err := c.Get(ts.url + "/time")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.TLS.DidResume != wantResume {
				t.Errorf("connection %d: DidResume = %v, want %v", i, resp.TLS.DidResume, wantResume)
			}
			tr.CloseIdleConnections() // the next request needs a new handshake
		}
	})
}

func TestH2C(t *testing.T) {
	t.Parallel()
	var h2cOnly http.Protocols
	h2cOnly.SetUnencryptedHTTP2(true)
	tests := []struct {
		name    string
		h2c     bool
		wantErr bool
	}{
		{"h2c with prior knowledge", true, false},
		{"no h2c unless enabled", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, Config{H2C: tt.h2c}, nil)
			resp, err := client(t, &http.Transport{Protocols: &h2cOnly}).Get(ts.url + "/time")
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("h2c request served over %s by a server without h2c", resp.Proto)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
				t.Errorf("got %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
			}
			// HTTP/1.1 still works on the same port.
			r2, err := client(t, nil).Get(ts.url + "/time")
			if err != nil {
				t.Fatal(err)
			}
			r2.Body.Close()
			if r2.ProtoMajor != 1 {
				t.Errorf("plain client got %s", r2.Proto)
			}
		})
	}
}

// TestH2MaxConcurrentStreams reads the server's SETTINGS frame on an h2c
// connection: the configured stream limit is what clients are told.
func TestH2MaxConcurrentStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  int
		want uint32
	}{
		{"default", 0, DefaultH2MaxStreams},
		{"configured", 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, Config{H2C: true, H2MaxConcurrentStreams: tt.cfg}, nil)
			c, err := net.Dial("tcp", ts.s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
				t.Fatal(err)
			}
			fr := http2.NewFramer(c, c)
			if err := fr.WriteSettings(); err != nil {
				t.Fatal(err)
			}
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			sf, ok := f.(*http2.SettingsFrame)
			if !ok {
				t.Fatalf("first frame is %T, want SETTINGS", f)
			}
			got, ok := sf.Value(http2.SettingMaxConcurrentStreams)
			if !ok || got != tt.want {
				t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (present %v), want %d", got, ok, tt.want)
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", DrainDelay: 2 * time.Second, ShutdownTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	service.Register(s)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	url := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	slow := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", url+"/delay?ms=5000", nil)
		slow <- do(client(t, nil), req)
	}()
	probe := client(t, &http.Transport{DisableKeepAlives: true})
	waitInFlight(t, probe, "http://"+s.AdminAddr().String())
	cancel()

	// Readiness turns 503 at once, while the listener still accepts.
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", url+"/readyz", nil)
		r := do(probe, req)
		if r.code == 503 && r.body == "draining\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never reported draining (last %d %q %v)", r.code, r.body, r.err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Then new connections are refused.
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after the drain delay")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The in-flight request completes.
	r := <-slow
	if r.err != nil || r.code != 200 || r.body != "ok\n" {
		t.Errorf("in-flight /delay = %d %q %v, want 200 ok", r.code, r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestShutdownClosesIdleKeepAlive checks that an idle keep-alive connection
// is closed by the server at shutdown instead of holding it open.
func TestShutdownClosesIdleKeepAlive(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Addr: "127.0.0.1:0", AdminAddr: "off"})
	if err != nil {
		t.Fatal(err)
	}
	service.Register(s)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("server did not keep the connection alive")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle keep-alive connection after shutdown: read err = %v, want EOF", err)
	}
}

func TestShutdownTimeoutReturnsError(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	service.Register(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- s.Run(ctx) }()
	url := "http://" + s.Addr().String()
	slow := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", url+"/delay?ms=10000", nil)
		slow <- do(client(t, nil), req)
	}()
	waitInFlight(t, client(t, nil), "http://"+s.AdminAddr().String())
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("Run = %v, want a shutdown-timeout error", err)
	}
	<-slow // closed by the server, not served
}

// TestWithListenerAndOnDrain serves on a caller's listener (the shared-port
// hook) and checks that drain hooks run when shutdown starts.
func TestWithListenerAndOnDrain(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Addr: "127.0.0.1:1", AdminAddr: "off"}, WithListener(ln))
	if err != nil {
		t.Fatal(err)
	}
	service.Register(s)
	drained := make(chan bool, 1)
	s.OnDrain(func() { drained <- !s.Readiness().Ready() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/time", nil)
	if r := do(client(t, nil), req); r.code != 200 {
		t.Fatalf("GET /time on the given listener = %d %v", r.code, r.err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case notReady := <-drained:
		if !notReady {
			t.Error("OnDrain ran before readiness turned 503")
		}
	default:
		t.Error("OnDrain hook did not run")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the given listener is still open after shutdown")
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free := freeAddr(t)
	tests := []struct {
		name     string
		cfg      Config
		wantNew  bool // New fails (config) rather than Run (listen)
		wantText string
	}{
		{"public port in use", Config{Addr: busy.Addr().String(), AdminAddr: free}, false, "address already in use"},
		{"admin port in use leaves public closed", Config{Addr: free, AdminAddr: busy.Addr().String()}, false, "admin listener"},
		{"unreadable certificate", Config{Addr: free, TLSCert: "/nonexistent/cert.pem", TLSKey: "/nonexistent/key.pem"}, true, "tls-cert"},
		{"non-loopback admin without token", Config{Addr: free, AdminAddr: "0.0.0.0:0"}, true, "admin-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.wantNew {
				if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantText) {
					t.Fatalf("New = %v, want ErrInvalidConfig naming %q", err, tt.wantText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = s.Run(context.Background())
			var le *ListenError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Run = %v, want *ListenError naming %q", err, tt.wantText)
			}
			// Nothing is left listening on the address that was free.
			ln, err := net.Listen("tcp", free)
			if err != nil {
				t.Fatalf("%s still bound after a failed start: %v", free, err)
			}
			ln.Close()
		})
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
