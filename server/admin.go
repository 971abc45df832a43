package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotpath-dev/hotpath/internal/policy"
)

// NewRegistry returns a private Prometheus registry with the Go runtime and
// process collectors registered. Every engine registers its HTTP metrics on
// one such registry and serves it from the admin listener; a private
// registry (not prometheus.DefaultRegisterer) keeps two servers in one
// process, e.g. in tests, from colliding.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// AdminHandler returns the admin surface: all of net/http/pprof under
// /debug/pprof/ and reg's metrics at /metrics. A non-empty token is
// required as "Authorization: Bearer <token>" (constant-time compare) on
// every path, else 401. Anything else is 404. The error (wrapping
// ErrInvalidConfig) is for a token that is not a valid RFC 6750 token.
func AdminHandler(reg prometheus.Gatherer, token string) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A failed collector yields partial metrics plus an error metric
		// instead of a 500 that would blind the scraper.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	if token == "" {
		return mux, nil
	}
	auth, err := policy.NewBearerAuth([]string{token}, DefaultRealm+"-admin")
	if err != nil {
		return nil, fmt.Errorf("%w: admin-token: %w", ErrInvalidConfig, err)
	}
	return auth.Middleware(mux), nil
}

// Admin is the admin listener: AdminHandler on its own address, never the
// public one. It has no write timeout, because /debug/pprof/profile and
// /debug/pprof/trace stream for as long as the caller asks.
type Admin struct {
	addr string
	srv  *http.Server
	ln   net.Listener
}

// NewAdmin returns the admin listener described by c.AdminAddr and
// c.AdminToken, serving reg. It validates c (the token rule included) and
// returns an error wrapping ErrInvalidConfig when c is bad or when
// c.AdminAddr is "off". Of opts only WithLogger applies (net/http's own
// errors; default: discarded). The Runtime runs one for every engine.
func NewAdmin(c Config, reg prometheus.Gatherer, opts ...Option) (*Admin, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.WithDefaults()
	if c.AdminAddr == AdminOff {
		return nil, fmt.Errorf("%w: admin-addr: the admin listener is off", ErrInvalidConfig)
	}
	h, err := AdminHandler(reg, c.AdminToken)
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return &Admin{
		addr: c.AdminAddr,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: c.ReadHeaderTimeout,
			IdleTimeout:       c.IdleTimeout,
			MaxHeaderBytes:    c.MaxHeaderBytes,
			ErrorLog:          errorLog(o.log),
		},
	}, nil
}

// Listen binds the admin address. Errors are *ListenError.
func (a *Admin) Listen() error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return &ListenError{Name: "admin", Addr: a.addr, Err: err}
	}
	a.ln = ln
	return nil
}

// Addr is the bound address, or nil before Listen.
func (a *Admin) Addr() net.Addr {
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// Serve serves on the listener bound by Listen until Shutdown, then
// returns nil.
func (a *Admin) Serve() error {
	if a.ln == nil {
		return errors.New("admin: Serve before Listen")
	}
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin listener %s: %w", a.ln.Addr(), err)
	}
	return nil
}

// Shutdown stops the admin listener gracefully until ctx ends, then closes
// what is left (a long pprof profile, say). It is safe before Serve.
func (a *Admin) Shutdown(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	if a.ln != nil {
		a.ln.Close() // Serve may never have run, so Shutdown may not know ln
	}
	if err != nil {
		a.srv.Close()
		return fmt.Errorf("admin listener shutdown: %w", err)
	}
	return nil
}

// ListenError is returned when a listener cannot bind its address (in
// use, no permission, unknown host). Name is "public" or "admin".
type ListenError struct {
	Name string
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return oneLine(fmt.Sprintf("%s listener: %v", e.Name, e.Err))
}

func (e *ListenError) Unwrap() error { return e.Err }
