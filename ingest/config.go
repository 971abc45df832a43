package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config, used for its zero fields. BatchSize and BatchWait are
// the seed's (§2.4: batch size 16, max wait 5 ms).
const (
	DefaultBatchSize     = 16
	DefaultBatchWait     = 5 * time.Millisecond
	DefaultQueue         = 4096
	DefaultMaxEventBytes = 64 << 10
	DefaultUnreadyAfter  = 5 * time.Second
)

// ErrInvalidConfig is wrapped by the error New returns for a Config it
// refuses; the message names the field.
var ErrInvalidConfig = errors.New("ingest: invalid config")

// Config tunes a Batcher. Its zero value is the defaults; each zero field
// takes its Default* constant.
type Config struct {
	// BatchSize is the most events one sink Append carries; a batch is
	// written as soon as it holds this many. Default 16.
	BatchSize int
	// BatchWait is the longest the oldest event of a batch waits for
	// company before the batch is written. Default 5ms.
	BatchWait time.Duration
	// Queue is the most events accepted by Submit and not yet answered
	// (queued, being batched or being written). Submit beyond it fails at
	// once with ErrQueueFull. It must be at least BatchSize. Default 4096.
	Queue int
	// MaxEventBytes is the largest event Submit accepts (ErrTooLarge
	// beyond). Default 64 KiB.
	MaxEventBytes int
	// Format is what an event must be and how it is stored: FormatRaw (the
	// zero value: any bytes, stored as sent) or FormatJSON (one JSON value,
	// stored compacted). The seed's "format transform" stage.
	Format Format
	// UnreadyAfter is how long the sink must fail continuously (no
	// successful Append or Ping since the first failure) before Ready
	// reports false. Default 5s.
	UnreadyAfter time.Duration
}

// withDefaults returns c with zero fields set to the defaults, or an error
// wrapping ErrInvalidConfig.
func (c Config) withDefaults() (Config, error) {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = DefaultMaxEventBytes
	}
	if c.UnreadyAfter == 0 {
		c.UnreadyAfter = DefaultUnreadyAfter
	}
	switch {
	case c.BatchSize < 0:
		return c, fmt.Errorf("%w: BatchSize %d is negative", ErrInvalidConfig, c.BatchSize)
	case c.BatchWait < 0:
		return c, fmt.Errorf("%w: BatchWait %v is negative", ErrInvalidConfig, c.BatchWait)
	case c.Queue < 0:
		return c, fmt.Errorf("%w: Queue %d is negative", ErrInvalidConfig, c.Queue)
	case c.MaxEventBytes < 0:
		return c, fmt.Errorf("%w: MaxEventBytes %d is negative", ErrInvalidConfig, c.MaxEventBytes)
	case c.UnreadyAfter < 0:
		return c, fmt.Errorf("%w: UnreadyAfter %v is negative", ErrInvalidConfig, c.UnreadyAfter)
	case c.Format != FormatRaw && c.Format != FormatJSON:
		return c, fmt.Errorf("%w: Format %d is unknown", ErrInvalidConfig, int(c.Format))
	case c.BatchSize > c.Queue:
		return c, fmt.Errorf("%w: BatchSize %d is larger than Queue %d", ErrInvalidConfig, c.BatchSize, c.Queue)
	}
	return c, nil
}

// Option configures a Batcher beyond its Config.
type Option func(*options)

type options struct {
	reg    prometheus.Registerer
	logger *slog.Logger
	tp     trace.TracerProvider // see WithTracerProvider
}

// WithRegisterer registers the batcher's metrics (see Batcher) on reg. By
// default they are not registered anywhere.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.reg = reg }
}

// WithLogger sets the logger for sink failures and recoveries (one line per
// change of state, never one per event). By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}
