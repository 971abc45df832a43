package rpc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// metrics holds the hotpath_grpc_server_* collectors.
type metrics struct {
	handled  *prometheus.CounterVec   // method, code
	duration *prometheus.HistogramVec // method
	inFlight prometheus.Gauge
}

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
	}
	for _, c := range []prometheus.Collector{m.handled, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("rpc: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(fullMethod string, start time.Time, err error) {
	method := strings.TrimPrefix(fullMethod, "/")
	m.handled.WithLabelValues(method, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	m.inFlight.Dec()
}

func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	m.inFlight.Inc()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	m.inFlight.Inc()
	err := handler(srv, ss)
	m.observe(info.FullMethod, start, err)
	return err
}
