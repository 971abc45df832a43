package rpc

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// metrics holds the hotpath_grpc_server_* collectors.
type metrics struct {
	handled  *prometheus.CounterVec   // method, code
	duration *prometheus.HistogramVec // method
	inFlight prometheus.Gauge
	// byMethod caches the series of every method known at New (read-only
	// afterwards), so a call costs no label hashing; calls to methods
	// registered later take the slower WithLabelValues path.
	byMethod map[string]*methodMetrics
}

// methodMetrics are one method's series; handled is indexed by code.
type methodMetrics struct {
	handled  [numCodes]prometheus.Counter
	duration prometheus.Observer
}

const numCodes = int(codes.Unauthenticated) + 1

// newMetrics registers the collectors on reg:
//
//	hotpath_grpc_server_handled_total{method,code}   calls finished, by gRPC code name
//	hotpath_grpc_server_handling_seconds{method}     call duration histogram
//	hotpath_grpc_server_in_flight                    calls being handled now
//
// method is "package.Service/Method". Gateway calls are counted too.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotpath_grpc_server_handled_total",
			Help: "gRPC calls finished, by method and status code (gateway calls included).",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotpath_grpc_server_handling_seconds",
			Help:    "Time from a gRPC call's start to its handler's return, by method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotpath_grpc_server_in_flight",
			Help: "gRPC calls being handled now.",
		}),
		byMethod: map[string]*methodMetrics{},
	}
	for _, c := range []prometheus.Collector{m.handled, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("rpc: register metrics: %w", err)
		}
	}
	return m, nil
}

// prepare creates the series of every method of services (OK at zero, the
// other codes when first used), before serving starts.
func (m *metrics) prepare(services map[string]grpc.ServiceInfo) {
	for svc, info := range services {
		for _, mi := range info.Methods {
			name := svc + "/" + mi.Name
			mm := &methodMetrics{duration: m.duration.WithLabelValues(name)}
			for c := range mm.handled {
				mm.handled[c] = m.handled.WithLabelValues(name, codes.Code(c).String())
			}
			m.byMethod["/"+name] = mm
		}
	}
}

// observe records one finished call.
func (m *metrics) observe(fullMethod string, start time.Time, err error) {
	elapsed := time.Since(start).Seconds()
	code := status.Code(err)
	if mm := m.byMethod[fullMethod]; mm != nil && int(code) < numCodes {
		mm.handled[code].Inc()
		mm.duration.Observe(elapsed)
	} else {
		method := strings.TrimPrefix(fullMethod, "/")
		m.handled.WithLabelValues(method, code.String()).Inc()
		m.duration.WithLabelValues(method).Observe(elapsed)
	}
	m.inFlight.Dec()
}
