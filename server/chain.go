package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/internal/policy"
	"github.com/hotpath-dev/hotpath/middleware"
	"github.com/hotpath-dev/hotpath/tracing"
)

// BuildPolicy builds the default chain's pieces from c (after WithDefaults)
// for one of hotpath's engines: the access log (writing to accessOut), the
// HTTP metrics (registered with reg), the shedder, the rate limiter, the
// CORS policy, the bearer auth and, when tr is not nil, the Trace step
// (spans from tr; Config.TraceResponseHeader). The order they apply in is
// policy.Order; the engine turns them into its own calls. An invalid value
// wraps ErrInvalidConfig; the caller closes the result once the server has
// stopped. Library users get the same chain from New.
func BuildPolicy(c Config, reg prometheus.Registerer, accessOut io.Writer, tr *tracing.Provider) (*policy.Policy, error) {
	pc := policy.Config{
		AccessLog:       c.AccessLog,
		AccessLogJSON:   c.AccessLogFormat == "json",
		AccessLogSample: c.AccessLogSample,
		AccessLogOut:    accessOut,
		MaxInFlight:     c.MaxInFlight,
		RateLimit:       c.RateLimit,
		RateBurst:       c.RateBurst,
		CORSOrigins:     c.CORSOrigins,
		AuthTokens:      c.AuthTokens,
		AuthRealm:       DefaultRealm,
		AuthRoutes:      c.AuthRoutes,
		RequestTimeout:  c.RequestTimeout,
		MaxBodyBytes:    c.MaxBodyBytes,
	}
	if tr != nil {
		pc.Tracer, pc.Propagator, pc.TraceResponseHeader = tr.TracerProvider(), tr.Propagator(), c.TraceResponseHeader
		pc.TraceSampling = tr
	}
	p, err := policy.Build(pc, reg)
	if oe := (*policy.OptionError)(nil); errors.As(err, &oe) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return p, err
}

// defaultChain is the net/http form of the default chain (policy.Order,
// docs/serve.md). route labels the metrics of requests refused before the
// router. The returned closers (the access log's flusher) must be closed at
// shutdown.
func defaultChain(st *Setup, route func(*http.Request) string) (middleware.Middleware, []io.Closer, error) {
	p, err := BuildPolicy(st.Config, st.Registry, st.AccessLog, st.Tracing)
	if err != nil {
		return nil, nil, err
	}
	return p.Middleware(st.Log, route), []io.Closer{p}, nil
}
