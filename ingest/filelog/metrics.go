package filelog

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	write prometheus.Observer // nil: no metrics
	fsync prometheus.Observer
}

// latencyBuckets span 50 µs to about 1.6 s: page-cache writes at the low
// end, fsyncs of a loaded disk at the high end.
var latencyBuckets = prometheus.ExponentialBuckets(50e-6, 2, 16)

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	if reg == nil {
		return metrics{}, nil
	}
	write, err := registerHistogram(reg, prometheus.HistogramOpts{
		Name:    "hotpath_ingest_sink_write_seconds",
		Help:    "Time the file log took to write one batch's records (one write call).",
		Buckets: latencyBuckets,
	})
	if err != nil {
		return metrics{}, err
	}
	fsync, err := registerHistogram(reg, prometheus.HistogramOpts{
		Name:    "hotpath_ingest_fsync_seconds",
		Help:    "Time the file log took to fsync a segment after a batch's write.",
		Buckets: latencyBuckets,
	})
	if err != nil {
		return metrics{}, err
	}
	return metrics{write: write, fsync: fsync}, nil
}

func registerHistogram(reg prometheus.Registerer, opts prometheus.HistogramOpts) (prometheus.Observer, error) {
	h := prometheus.NewHistogram(opts)
	err := reg.Register(h)
	if err == nil {
		return h, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(prometheus.Histogram); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("filelog: register %s: %w", opts.Name, err)
}

func observe(o prometheus.Observer, since time.Time) {
	if o != nil {
		o.Observe(time.Since(since).Seconds())
	}
}
