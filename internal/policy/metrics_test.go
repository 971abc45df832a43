package policy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testutil stands in for prometheus/testutil, which would pull a new module
// into go.mod for two small functions.
var testutil = promRead{}

type promRead struct{}

// ToFloat64 returns the value of a counter or gauge.
func (promRead) ToFloat64(m prometheus.Metric) float64 {
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		panic(err)
	}
	if c := pb.GetCounter(); c != nil {
		return c.GetValue()
	}
	return pb.GetGauge().GetValue()
}

// inFlight reads the in-flight gauge through the collector, as a scrape does.
func inFlight(m *HTTPMetrics) float64 {
	ch := make(chan prometheus.Metric, 1)
	m.inFlight.Collect(ch)
	return testutil.ToFloat64(<-ch)
}

// CollectAndCount returns the number of series c exposes.
func (promRead) CollectAndCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

func TestMetricsRecords(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		method  string
		routed  bool
		handler http.HandlerFunc
		route   string
		wantM   string
		code    string
		bytes   float64
	}{
		{"labelled route", "GET", true, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "12345")
		}, "/time", "GET", "200", 5},
		{"unlabelled: unmatched", "GET", false, func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, UnmatchedRoute, "GET", "404", float64(len("404 page not found\n"))},
		{"unknown method: other", "BREW", true, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}, "/time", "other", "405", 0},
		{"nothing written: 200", "POST", true, func(w http.ResponseWriter, r *http.Request) {}, "/time", "POST", "200", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := NewHTTPMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			var h http.Handler = c.handler
			if c.routed {
				h = Labeled("/time", h)
			}
			serve(Metrics(m)(h), httptest.NewRequest(c.method, "/time", nil))
			if got := testutil.ToFloat64(m.requests.WithLabelValues(c.route, c.wantM, c.code)); got != 1 {
				t.Errorf("requests{%s,%s,%s} = %v, want 1", c.route, c.wantM, c.code, got)
			}
			if got := testutil.CollectAndCount(m.requests); got != 1 {
				t.Errorf("%d request series, want 1", got)
			}
			if got := testutil.ToFloat64(m.bytes.WithLabelValues(c.route, c.wantM)); got != c.bytes {
				t.Errorf("bytes = %v, want %v", got, c.bytes)
			}
			if got := testutil.CollectAndCount(m.duration); got != 1 {
				t.Errorf("%d duration series, want 1", got)
			}
			if got := inFlight(m); got != 0 {
				t.Errorf("in flight after the request = %v, want 0", got)
			}
		})
	}
}

func TestMetricsInFlightAndPanic(t *testing.T) {
	t.Parallel()
	m, err := NewHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var during float64
	h := Chain(Recover(nil), Metrics(m))(Labeled("/p", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		during = inFlight(m)
		panic("boom")
	})))
	rec := serve(h, httptest.NewRequest("GET", "/p", nil))
	if rec.Code != 500 {
		t.Fatalf("code %d, want 500", rec.Code)
	}
	if during != 1 {
		t.Errorf("in flight during the request = %v, want 1", during)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/p", "GET", "500")); got != 1 {
		t.Errorf("panic recorded as %v requests with code 500, want 1", got)
	}
	if got := inFlight(m); got != 0 {
		t.Errorf("in flight after = %v, want 0", got)
	}
}

func TestMetricsSeesTimeout503(t *testing.T) {
	t.Parallel()
	m, err := NewHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := Chain(Metrics(m), Timeout(10*time.Millisecond))(Labeled("/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})))
	serve(h, httptest.NewRequest("GET", "/slow", nil))
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/slow", "GET", "503")); got != 1 {
		t.Errorf("timeout recorded %v times as 503, want 1", got)
	}
}

func TestNewHTTPMetricsDuplicate(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := NewHTTPMetrics(reg); err != nil {
		t.Fatal(err)
	}
	_, err := NewHTTPMetrics(reg)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second registration: err = %v, want AlreadyRegisteredError", err)
	}
	if _, err := NewHTTPMetrics(nil); err != nil {
		t.Errorf("nil registerer: %v", err)
	}
}

func TestMetricNamesExposed(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewHTTPMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe("/x", "GET", 200, time.Millisecond, 10)
	m.IncInFlight()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := []string{MetricDuration, MetricRequests, MetricInFlight, MetricResponseBytes}
	for _, w := range want {
		if !strings.Contains(strings.Join(names, " "), w) {
			t.Errorf("metric %s missing from %v", w, names)
		}
	}
	if got := inFlight(m); got != 1 {
		t.Errorf("IncInFlight: %v", got)
	}
	m.DecInFlight()
}

func TestMethodLabel(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE",
		"CONNECT": "CONNECT", "OPTIONS": "OPTIONS", "TRACE": "TRACE",
		"get": "other", "PROPFIND": "other", "": "other", strings.Repeat("X", 100): "other",
	}
	for in, want := range cases {
		if got := MethodLabel(in); got != want {
			t.Errorf("MethodLabel(%q) = %q, want %q", in, got, want)
		}
		if got := MethodLabelBytes([]byte(in)); got != want {
			t.Errorf("MethodLabelBytes(%q) = %q, want %q", in, got, want)
		}
	}
}

// unwrapper is a user's ResponseWriter wrapper that follows the
// http.ResponseController convention; opaque hides the writer below.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

type opaque struct{ http.ResponseWriter }

func TestLabeledReachesMetrics(t *testing.T) {
	t.Parallel()
	wrap := func(f func(http.ResponseWriter) http.ResponseWriter) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(f(w), r) })
		}
	}
	cases := []struct {
		name  string
		chain func(m *HTTPMetrics) Middleware
		want  string
	}{
		{"adjacent", func(m *HTTPMetrics) Middleware { return Metrics(m) }, "/r"},
		{"through Timeout", func(m *HTTPMetrics) Middleware { return Chain(Metrics(m), Timeout(time.Minute)) }, "/r"},
		{"through a wrapper with Unwrap", func(m *HTTPMetrics) Middleware {
			return Chain(Metrics(m), wrap(func(w http.ResponseWriter) http.ResponseWriter { return unwrapper{w} }))
		}, "/r"},
		{"opaque wrapper, outer RequestID state", func(m *HTTPMetrics) Middleware {
			return Chain(RequestID(), Metrics(m), wrap(func(w http.ResponseWriter) http.ResponseWriter { return opaque{w} }))
		}, "/r"},
		{"opaque wrapper, no state: unmatched", func(m *HTTPMetrics) Middleware {
			return Chain(Metrics(m), wrap(func(w http.ResponseWriter) http.ResponseWriter { return opaque{w} }))
		}, UnmatchedRoute},
		{"two separate recorders both labelled", func(m *HTTPMetrics) Middleware {
			// Recover's recorder is below the wrapper, Metrics' above it.
			return Chain(Metrics(m), wrap(func(w http.ResponseWriter) http.ResponseWriter { return unwrapper{w} }), Recover(nil))
		}, "/r"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := NewHTTPMetrics(nil)
			if err != nil {
				t.Fatal(err)
			}
			serve(c.chain(m)(Labeled("/r", okHandler)), httptest.NewRequest("GET", "/r", nil))
			if got := testutil.ToFloat64(m.requests.WithLabelValues(c.want, "GET", "200")); got != 1 {
				t.Errorf("requests{route=%q} = %v, want 1", c.want, got)
			}
		})
	}
}

// TestMetricsRoutedLabelsRefusals: a request refused before the router gets
// the label of the route it asked for; a routed one keeps Labeled's; no
// route stays unmatched.
func TestMetricsRoutedLabelsRefusals(t *testing.T) {
	t.Parallel()
	resolve := func(r *http.Request) string {
		if r.URL.Path == "/r" {
			return "GET /r"
		}
		return ""
	}
	refuse := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Refuse") != "" {
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	cases := []struct {
		name, path string
		refuse     bool
		route      string
		code       string
	}{
		{"refused: the route it asked for", "/r", true, "GET /r", "429"},
		{"routed: Labeled's label", "/r", false, "routed", "200"},
		{"refused, no route: unmatched", "/nope", true, UnmatchedRoute, "429"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := NewHTTPMetrics(nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", c.path, nil)
			if c.refuse {
				req.Header.Set("X-Refuse", "1")
			}
			serve(Chain(MetricsRouted(m, resolve), refuse)(Labeled("routed", okHandler)), req)
			if got := testutil.ToFloat64(m.requests.WithLabelValues(c.route, "GET", c.code)); got != 1 {
				t.Errorf("requests{route=%q,code=%s} = %v, want 1", c.route, c.code, got)
			}
		})
	}
}
