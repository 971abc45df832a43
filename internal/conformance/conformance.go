// Package conformance is the observable behaviour every hotpath engine must
// show, written once as tables of HTTP requests and expected responses
// (status, headers, body) plus a few lifecycle scenarios (load shedding,
// rate limiting, client disconnect, graceful drain, connection cap, socket
// timeouts). Each engine's tests call
// Run with a Factory, so the engines cannot drift apart.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// Factory builds an engine from cfg with the seed's endpoints mounted
// (service.Register, or the engine's own registration of them): the suite
// requests /time, /json, /echo and /delay. The suite sets Addr and AdminAddr
// to 127.0.0.1:0 and the limits each scenario needs; the factory must honour
// every field it is given or return an error.
type Factory func(cfg server.Config) (server.Engine, error)

// Token is the bearer token the suite configures; AuthRoute is the only
// route that requires it.
const (
	Token     = "conformance-token"
	AuthRoute = "/echo"
)

// Limits the default profile sets, small so the suite can cross them.
const (
	maxBodyBytes   = 64
	maxHeaderBytes = 1024
	requestTimeout = 300 * time.Millisecond
)

// baseConfig is the configuration of the default profile.
func baseConfig() server.Config {
	return server.Config{
		Addr:           "127.0.0.1:0",
		AdminAddr:      "127.0.0.1:0",
		MaxBodyBytes:   maxBodyBytes,
		MaxHeaderBytes: maxHeaderBytes,
		RequestTimeout: requestTimeout,
		AuthTokens:     []string{Token},
		AuthRoutes:     []string{AuthRoute},
	}
}

// running is one engine started by start.
type running struct {
	url, admin string
	stop       context.CancelFunc
	done       chan error
	runErrOK   bool // the scenario expects Run to fail (and checks that itself)
	// drained receives, from the engine's OnDrain hook, whether readiness
	// had turned 503 when the hook ran.
	drained chan bool
}

// start builds and runs an engine with cfg; the engine is stopped (and its
// Run error checked) when the test ends, unless the test stopped it itself.
func start(t *testing.T, f Factory, cfg server.Config) *running {
	t.Helper()
	e, err := f(cfg)
	if err != nil {
		t.Fatalf("build engine: %v", err)
	}
	drained := make(chan bool, 1)
	e.OnDrain(func() { drained <- !ready(e) })
	if err := e.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	if e.Addr() == nil || e.AdminAddr() == nil {
		t.Fatalf("after Listen: Addr %v, AdminAddr %v; want both bound", e.Addr(), e.AdminAddr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{
		url:     "http://" + e.Addr().String(),
		admin:   "http://" + e.AdminAddr().String(),
		stop:    cancel,
		done:    make(chan error, 1),
		drained: drained,
	}
	go func() { r.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil && !r.runErrOK {
				t.Errorf("Run: %v", err)
			}
			r.done <- err // a later wait sees it too
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return within 30s of cancel")
		}
	})
	return r
}

// ready reports whether e's /readyz would answer 200, from its readiness
// state when it exposes one (every hotpath engine does, server.Runtime's).
func ready(e server.Engine) bool {
	r, ok := e.(interface{ Readiness() *service.Readiness })
	return !ok || r.Readiness().Ready()
}

// wait returns Run's error once the engine has stopped.
func (r *running) wait() error {
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		return errors.New("Run did not return within 30s")
	}
}

// Option adjusts Run.
type Option func(*settings)

type settings struct{ except map[string]string }

// Except skips the request or timeout case named name (as printed by go test -v) with
// reason: a documented limit of the engine (docs/engines.md) that the
// engine cannot work around. The skip is visible in test output; a name that
// matches no case fails the run, so exceptions cannot go stale.
func Except(name, reason string) Option {
	return func(s *settings) { s.except[name] = reason }
}

// Run runs the whole suite against engines built by f. Scenarios run one
// after another: each starts its own engine on 127.0.0.1:0.
func Run(t *testing.T, f Factory, opts ...Option) {
	set := settings{except: map[string]string{}}
	for _, o := range opts {
		o(&set)
	}
	for name := range set.except {
		if !hasCase(name) {
			t.Errorf("conformance.Except(%q): no such case", name)
		}
	}
	t.Run("requests", func(t *testing.T) { runTable(t, f, set.except) })
	t.Run("admin", func(t *testing.T) { runAdmin(t, f) })
	t.Run("shed and disconnect", func(t *testing.T) { runShed(t, f) })
	t.Run("rate limit", func(t *testing.T) { runRateLimit(t, f) })
	t.Run("drain", func(t *testing.T) { runDrain(t, f) })
	t.Run("shutdown timeout", func(t *testing.T) { runCutOff(t, f) })
	t.Run("max connections", func(t *testing.T) { runMaxConns(t, f) })
	t.Run("connection close", func(t *testing.T) { runConnectionClose(t, f) })
	t.Run("timeouts", func(t *testing.T) { runTimeouts(t, f, set.except) })
	t.Run("concurrent large-body echo", func(t *testing.T) { runConcurrentEcho(t, f) })
}

// poll calls cond every 20ms until it returns nil or d passes, and returns
// its last error.
func poll(d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
