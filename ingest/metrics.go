package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names of a Batcher; dashboards depend on them.
const (
	MetricBatchSize    = "hotpath_ingest_batch_size"
	MetricBatchWait    = "hotpath_ingest_batch_wait_seconds"
	MetricSinkAppend   = "hotpath_ingest_sink_append_seconds"
	MetricQueueDepth   = "hotpath_ingest_queue_depth"
	MetricEventsTotal  = "hotpath_ingest_events_total"
	MetricSinkFailures = "hotpath_ingest_sink_failures_total"
)

// Values of the result label of hotpath_ingest_events_total. Every event
// given to Submit is counted exactly once.
const (
	ResultStored    = "stored"     // durable in the sink, Submit returned its Position
	ResultQueueFull = "queue_full" // refused at once: Queue events already pending
	ResultSinkError = "sink_error" // its batch failed (or was refused during a back-off)
	ResultClosed    = "closed"     // the batcher was closed before it was written
	ResultTooLarge  = "too_large"  // larger than MaxEventBytes
	ResultEmpty     = "empty"      // zero bytes
	ResultInvalid   = "invalid"    // Config.Format FormatJSON and not one JSON value
	ResultWithdrawn = "withdrawn"  // Submit's ctx ended before the write began: not stored
)

// latencyBuckets are upper bounds in seconds from 100µs to 10s.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

type metrics struct {
	batchSize  prometheus.Histogram
	batchWait  prometheus.Histogram
	appendTime prometheus.Histogram
	queueDepth prometheus.GaugeFunc
	events     *prometheus.CounterVec
	failures   prometheus.Counter

	// Children of events resolved once, so counting costs no label lookup.
	stored, queueFull, sinkError, closed, tooLarge, empty, invalid, withdrawn prometheus.Counter
}

// sizeBuckets returns 1, 2, 4, … below batchSize, then batchSize: every
// power of two and the full batch, which is what the size trigger makes.
func sizeBuckets(batchSize int) []float64 {
	var b []float64
	for n := 1; n < batchSize; n *= 2 {
		b = append(b, float64(n))
	}
	return append(b, float64(batchSize))
}

func newMetrics(reg prometheus.Registerer, batchSize int, depth func() float64) (*metrics, error) {
	m := &metrics{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricBatchSize,
			Help:    "Events per sink append.",
			Buckets: sizeBuckets(batchSize),
		}),
		batchWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricBatchWait,
			Help:    "Time from a batch's first event being queued to the start of its sink append.",
			Buckets: latencyBuckets,
		}),
		appendTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricSinkAppend,
			Help:    "Latency of one sink append (one write and its fsync or produce acknowledgement).",
			Buckets: latencyBuckets,
		}),
		queueDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: MetricQueueDepth,
			Help: "Events accepted and not yet answered (queued, batching or being written).",
		}, depth),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricEventsTotal,
			Help: "Events submitted, by result.",
		}, []string{"result"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricSinkFailures,
			Help: "Failed sink appends and pings.",
		}),
	}
	m.stored = m.events.WithLabelValues(ResultStored)
	m.queueFull = m.events.WithLabelValues(ResultQueueFull)
	m.sinkError = m.events.WithLabelValues(ResultSinkError)
	m.closed = m.events.WithLabelValues(ResultClosed)
	m.tooLarge = m.events.WithLabelValues(ResultTooLarge)
	m.empty = m.events.WithLabelValues(ResultEmpty)
	m.invalid = m.events.WithLabelValues(ResultInvalid)
	m.withdrawn = m.events.WithLabelValues(ResultWithdrawn)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.batchSize, m.batchWait, m.appendTime, m.queueDepth, m.events, m.failures} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: registering metrics: %w", err)
			}
		}
	}
	return m, nil
}
