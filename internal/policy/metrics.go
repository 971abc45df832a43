package policy

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names shared by every engine; dashboards depend on them.
const (
	MetricRequests      = "hotpath_http_requests_total"
	MetricDuration      = "hotpath_http_request_duration_seconds"
	MetricInFlight      = "hotpath_http_requests_in_flight"
	MetricResponseBytes = "hotpath_http_response_bytes_total"
)

// DurationBuckets are the latency histogram's upper bounds in seconds, from
// 100µs to 10s: fine where a fast service lives, coarse in the tail.
var DurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// HTTPMetrics holds the HTTP server collectors:
//
//	hotpath_http_requests_total{route,method,code}       counter
//	hotpath_http_request_duration_seconds{route,method}  histogram (DurationBuckets)
//	hotpath_http_requests_in_flight                      gauge
//	hotpath_http_response_bytes_total{route,method}      counter
//
// Label children are cached per (route, method, code), so recording a request
// costs no allocation and no label hashing inside the Prometheus client. All
// methods are safe for concurrent use. Routes must come from a bounded set
// (registered patterns, see Labeled); methods are bounded by MethodLabel.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.GaugeFunc // reads active, so Inc/Dec are one atomic add
	active   atomic.Int64
	bytes    *prometheus.CounterVec

	series atomic.Pointer[map[seriesKey]*series] // copy-on-write; read without locks
	mu     sync.Mutex                            // serialises cache misses
}

type seriesKey struct {
	route, method string
	code          int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
	bytes    prometheus.Counter
}

// NewHTTPMetrics makes the collectors and registers them with reg. It returns
// an error wrapping the registry's (e.g. prometheus.AlreadyRegisteredError)
// when one is already registered. A nil reg registers nothing: the caller can
// register the values from Collectors itself.
func NewHTTPMetrics(reg prometheus.Registerer) (*HTTPMetrics, error) {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricDuration,
			Help:    "Time from the request reaching the middleware to the handler returning, by route pattern and method.",
			Buckets: DurationBuckets,
		}, []string{"route", "method"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricResponseBytes,
			Help: "HTTP response body bytes written, by route pattern and method.",
		}, []string{"route", "method"}),
	}
	m.inFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: MetricInFlight,
		Help: "HTTP requests being served.",
	}, func() float64 { return float64(m.active.Load()) })
	empty := map[seriesKey]*series{}
	m.series.Store(&empty)
	if reg != nil {
		for _, c := range m.Collectors() {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("middleware: registering HTTP metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Collectors returns the four collectors, for a caller that registers them
// itself.
func (m *HTTPMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.inFlight, m.bytes}
}

// IncInFlight counts a request as started. Engine-neutral core.
func (m *HTTPMetrics) IncInFlight() { m.active.Add(1) }

// DecInFlight counts a request as finished. Engine-neutral core.
func (m *HTTPMetrics) DecInFlight() { m.active.Add(-1) }

// Observe records one finished request: route ("" means UnmatchedRoute), the
// request method (mapped through MethodLabel), the status code sent, the time
// it took and the response body bytes. It does not allocate once the
// (route, method, code) combination has been seen.
//
// Engine-neutral core: another engine calls IncInFlight, runs the handler,
// calls DecInFlight and Observe with its own status and byte count.
func (m *HTTPMetrics) Observe(route, method string, code int, d time.Duration, bytes int64) {
	if route == "" {
		route = UnmatchedRoute
	}
	s := m.seriesFor(route, MethodLabel(method), code)
	s.requests.Inc()
	s.duration.Observe(d.Seconds())
	if bytes > 0 {
		s.bytes.Add(float64(bytes))
	}
}

func (m *HTTPMetrics) seriesFor(route, method string, code int) *series {
	k := seriesKey{route, method, code}
	if s, ok := (*m.series.Load())[k]; ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	if s, ok := old[k]; ok {
		return s
	}
	s := &series{
		requests: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
		duration: m.duration.WithLabelValues(route, method),
		bytes:    m.bytes.WithLabelValues(route, method),
	}
	next := make(map[seriesKey]*series, len(old)+1)
	for k2, v := range old {
		next[k2] = v
	}
	next[k] = s
	m.series.Store(&next)
	return s
}

// Metrics returns a middleware that records every request in m: in-flight
// while it runs, then count, latency and body bytes labelled with the route
// set by Labeled (UnmatchedRoute without one), the method (MethodLabel) and
// the status code. A handler that panics is recorded as 500 when it had not
// written a status; a hijacked connection with the status written before the
// hijack, else 200. m must not be nil.
func Metrics(m *HTTPMetrics) Middleware { return MetricsRouted(m, nil) }

// MetricsRouted is Metrics for a chain in front of a router: a request that
// reached no Labeled handler (refused before routing: 401, 413, 429, 503) is
// labelled route(r), the route it would have reached, so dashboards show
// which route is refused; "" (no route: 404, 405) stays UnmatchedRoute.
// route runs only for such requests. A nil route is Metrics.
func MetricsRouted(m *HTTPMetrics, route func(*http.Request) string) Middleware {
	if m == nil {
		panic(errors.New("hotpath: middleware.Metrics needs non-nil *HTTPMetrics"))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := monoNow()
			sw, owned := acquireStatusWriter(w)
			if sw.start == 0 {
				sw.start = start // lets an inner Timeout skip reading the clock
			}
			m.active.Add(1)
			done := false
			defer func() {
				m.active.Add(-1)
				code := sw.status()
				if !done && !sw.written() {
					code = http.StatusInternalServerError // what Recover (or net/http) will do
				}
				label := routeOf(sw, r)
				if label == "" && route != nil {
					label = route(r)
				}
				m.Observe(label, r.Method, code, time.Duration(monoNow()-start), sw.bytes)
				if owned {
					sw.release()
				}
			}()
			next.ServeHTTP(sw, r)
			done = true
		})
	}
}
