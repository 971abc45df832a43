package conformance

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricLines are series every engine must expose on the admin /metrics
// after serving one GET /time, one unknown path and one POST /echo refused
// for want of a token (labelled with the route it asked for, not
// "unmatched": dashboards must show which route is refused).
var metricLines = []string{
	`hotpath_http_requests_total{code="200",method="GET",route="GET /time"} `,
	`hotpath_http_requests_total{code="404",method="GET",route="unmatched"} `,
	`hotpath_http_requests_total{code="401",method="POST",route="POST /echo"} `,
	`hotpath_http_request_duration_seconds_bucket{method="GET",route="GET /time",le="+Inf"} `,
	`hotpath_http_request_duration_seconds_count{method="GET",route="GET /time"} `,
	`hotpath_http_response_bytes_total{method="GET",route="GET /time"} `,
	`hotpath_http_requests_in_flight `,
	`go_memstats_mallocs_total `,
	`go_goroutines `,
	`process_resident_memory_bytes `,
}

func runAdmin(t *testing.T, f Factory) {
	r := start(t, f, baseConfig())
	client := newClient(t)
	for _, p := range []string{"/time", "/nope"} {
		if _, _, err := get(client, r.url+p); err != nil {
			t.Fatal(err)
		}
	}
	res, err := client.Post(r.url+AuthRoute, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("POST %s without a token: %d, want 401", AuthRoute, res.StatusCode)
	}
	code, body, err := get(client, r.admin+"/metrics")
	if err != nil || code != 200 {
		t.Fatalf("admin /metrics: %d, %v", code, err)
	}
	for _, l := range metricLines {
		if !strings.Contains(body, "\n"+l) {
			t.Errorf("admin /metrics has no line starting %q", l)
		}
	}
	tests := []struct {
		name, path string
		code       int
	}{
		{"pprof index on admin", "/debug/pprof/", 200},
		{"pprof cmdline on admin", "/debug/pprof/cmdline", 200},
		{"pprof heap on admin", "/debug/pprof/heap?debug=1", 200},
		{"public endpoints are not on admin", "/time", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, err := get(client, r.admin+tc.path)
			if err != nil || code != tc.code {
				t.Errorf("GET admin %s: %d, %v; want %d", tc.path, code, err, tc.code)
			}
		})
	}
}

// runShed holds one request with MaxInFlight 1, checks the next one is shed
// with 503 + Retry-After, then disconnects the held client and checks the
// handler stopped (the request's context was cancelled): /delay would
// otherwise hold its slot for 10 s.
func runShed(t *testing.T, f Factory) {
	cfg := baseConfig()
	cfg.MaxInFlight = 1
	cfg.RequestTimeout = -1
	r := start(t, f, cfg)
	client := newClient(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", r.url+"/delay?ms=10000", nil)
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		held <- err
	}()
	if err := waitInFlight(client, r.admin, 1); err != nil {
		t.Fatalf("held request never in flight: %v", err)
	}
	res, err := client.Get(r.url + "/time")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Retry-After") != "1" || res.Header.Get("X-Request-ID") == "" || string(body) != "server overloaded, retry later\n" {
		t.Errorf("over max in-flight: status %d, Retry-After %q, X-Request-ID %q, body %q; want 503, Retry-After 1, an ID, \"server overloaded, retry later\\n\"",
			res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("X-Request-ID"), body)
	}
	// The probes are never shed: a saturated pod must not be restarted
	// (liveness) or unlisted (readiness) for being busy.
	for _, probe := range []string{"/healthz", "/readyz"} {
		if code, _, err := get(client, r.url+probe); err != nil || code != 200 {
			t.Errorf("%s while shedding: %d, %v; want 200", probe, code, err)
		}
	}

	cancel() // the client goes away
	if err := <-held; err == nil {
		t.Fatal("held request finished instead of being cancelled")
	}
	if err := waitInFlight(client, r.admin, 0); err != nil {
		t.Fatalf("handler kept running after the client disconnected (request context not cancelled): %v", err)
	}
	if code, _, err := get(client, r.url+"/time"); err != nil || code != 200 {
		t.Errorf("after the slot freed: %d, %v; want 200", code, err)
	}
}

func runRateLimit(t *testing.T, f Factory) {
	cfg := baseConfig()
	cfg.RateLimit = 0.001 // one token per 1000 s
	cfg.RateBurst = 1
	r := start(t, f, cfg)
	client := newClient(t)
	if code, _, err := get(client, r.url+"/time"); err != nil || code != 200 {
		t.Fatalf("first request: %d, %v; want 200", code, err)
	}
	res, err := client.Get(r.url + "/time")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	ra, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != 429 || ra < 1 || res.Header.Get("X-Request-ID") == "" || string(body) != "rate limit exceeded\n" {
		t.Errorf("second request: status %d, Retry-After %q, X-Request-ID %q, body %q; want 429, a positive Retry-After, an ID, \"rate limit exceeded\\n\"",
			res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("X-Request-ID"), body)
	}
	// The probes neither spend tokens nor get 429 (kubelet probes share the
	// node's address with other traffic).
	for range 3 {
		for _, probe := range []string{"/healthz", "/readyz"} {
			if code, _, err := get(client, r.url+probe); err != nil || code != 200 {
				t.Errorf("%s with the bucket empty: %d, %v; want 200", probe, code, err)
			}
		}
	}
}

// runDrain checks graceful shutdown: readiness turns 503 at once while
// liveness stays 200 and the listener still serves during the drain delay;
// an in-flight request completes; Run returns nil; then nothing listens.
func runDrain(t *testing.T, f Factory) {
	cfg := baseConfig()
	cfg.RequestTimeout = -1
	cfg.DrainDelay = 1500 * time.Millisecond
	cfg.ShutdownTimeout = 10 * time.Second
	r := start(t, f, cfg)
	client := newClient(t)
	if code, _, err := get(client, r.url+"/readyz"); err != nil || code != 200 {
		t.Fatalf("readyz before shutdown: %d, %v", code, err)
	}
	type result struct {
		code int
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		c, b, err := get(client, r.url+"/delay?ms=2500")
		inflight <- result{c, b, err}
	}()
	if err := waitInFlight(client, r.admin, 1); err != nil {
		t.Fatalf("delay request never in flight: %v", err)
	}
	r.stop()
	err := poll(time.Second, func() error {
		code, body, err := get(client, r.url+"/readyz")
		if err != nil {
			return err
		}
		if code != 503 || body != "draining\n" {
			return errorf("readyz %d %q", code, body)
		}
		return nil
	})
	if err != nil {
		t.Errorf("readyz during drain: %v; want 503 \"draining\\n\"", err)
	}
	if code, _, err := get(client, r.url+"/healthz"); err != nil || code != 200 {
		t.Errorf("healthz during drain: %d, %v; want 200", code, err)
	}
	res := <-inflight
	if res.err != nil || res.code != 200 || res.body != "ok\n" {
		t.Errorf("in-flight request across shutdown: %d %q %v; want 200 \"ok\\n\"", res.code, res.body, res.err)
	}
	if err := r.wait(); err != nil {
		t.Errorf("Run after drain: %v", err)
	}
	select {
	case notReady := <-r.drained:
		if !notReady {
			t.Error("OnDrain hook ran before readiness turned 503")
		}
	default:
		t.Error("OnDrain hook did not run")
	}
	host := strings.TrimPrefix(r.url, "http://")
	if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Run returned", host)
	}
}

// runCutOff checks the end of --shutdown-timeout: a request still running
// then is cut off without an answer (a client must not take it for a
// success), and Run returns the shutdown error.
func runCutOff(t *testing.T, f Factory) {
	cfg := baseConfig()
	cfg.RequestTimeout = -1
	cfg.ShutdownTimeout = 300 * time.Millisecond
	r := start(t, f, cfg)
	r.runErrOK = true
	client := newClient(t)
	host := strings.TrimPrefix(r.url, "http://")
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /delay?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := waitInFlight(client, r.admin, 1); err != nil {
		t.Fatalf("delay request never in flight: %v", err)
	}
	r.stop()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c) // until the engine closes the connection
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the cut-off request's connection was still open 10 s after the shutdown began")
	}
	if len(got) > 0 {
		line, _, _ := strings.Cut(string(got), "\r\n")
		t.Errorf("cut-off request answered %q; want the connection closed without an answer", line)
	}
	if err := r.wait(); err == nil {
		t.Error("Run returned nil after cutting a request off; want the shutdown error")
	}
}

var inFlightRe = regexp.MustCompile(`(?m)^hotpath_http_requests_in_flight (\S+)$`)

// waitInFlight polls the admin /metrics until the in-flight gauge is n.
func waitInFlight(client *http.Client, admin string, n int) error {
	return poll(5*time.Second, func() error {
		code, body, err := get(client, admin+"/metrics")
		if err != nil {
			return err
		}
		m := inFlightRe.FindStringSubmatch(body)
		if code != 200 || m == nil {
			return errorf("admin /metrics: %d, no in-flight gauge", code)
		}
		if v, _ := strconv.ParseFloat(m[1], 64); int(v) != n {
			return errorf("in-flight gauge is %s, want %d", m[1], n)
		}
		return nil
	})
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// get fetches url and returns status and body.
func get(client *http.Client, url string) (int, string, error) {
	res, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}
