package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/service"
)

// TestNewServesOnlyProbes: a library user's server answers the probes and
// what it mounts; the seed's endpoints come only with service.Register.
func TestNewServesOnlyProbes(t *testing.T) {
	s, err := New(Config{AdminAddr: AdminOff})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	code := func(method, path string) int {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if c := code("GET", p); c != 200 {
			t.Errorf("GET %s = %d, want 200", p, c)
		}
	}
	demo := []struct{ method, path string }{{"GET", "/time"}, {"GET", "/json"}, {"POST", "/echo"}, {"GET", "/delay?ms=0"}}
	for _, d := range demo {
		if c := code(d.method, d.path); c != 404 {
			t.Errorf("%s %s before service.Register = %d, want 404", d.method, d.path, c)
		}
	}
	service.Register(s)
	for _, d := range demo {
		if c := code(d.method, d.path); c != 200 {
			t.Errorf("%s %s after service.Register = %d, want 200", d.method, d.path, c)
		}
	}
}

// fakeTransport records what the Runtime asks of it. Its Shutdown fails
// when fail is set, as a transport whose requests outlive the timeout.
type fakeTransport struct {
	fail bool

	mu    sync.Mutex
	calls []string
	stop  chan struct{}
}

func newFake(fail bool) *fakeTransport { return &fakeTransport{fail: fail, stop: make(chan struct{})} }

func (f *fakeTransport) record(c string) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func (f *fakeTransport) Serve(ln net.Listener) error {
	f.record("serve")
	<-f.stop
	return nil
}

func (f *fakeTransport) Shutdown(ctx context.Context) error {
	f.record("shutdown")
	if f.fail {
		<-ctx.Done()
		return ctx.Err()
	}
	close(f.stop)
	return nil
}

func (f *fakeTransport) Close() error {
	f.record("close")
	close(f.stop)
	return nil
}

func (f *fakeTransport) got() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

type closerFunc func() error

func (c closerFunc) Close() error { return c() }

// TestCapabilitiesRefuse: what a transport cannot honour is refused by
// NewRuntime, naming the option and the engine, before the engine builds
// anything.
func TestCapabilitiesRefuse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h1 := Capabilities{Engine: "h1", SharedListener: true}
	tests := []struct {
		name   string
		caps   Capabilities
		cfg    Config
		opts   []Option
		option string // "" = accepted
	}{
		{"h2c needs HTTP/2", h1, Config{H2C: true}, nil, "h2c"},
		{"TLS needs HTTP/2", h1, Config{TLSSelfSigned: true}, nil, "tls-self-signed"},
		{"a listener handed over needs SharedListener", Capabilities{Engine: "own"}, Config{}, []Option{WithListener(ln)}, "shared listener"},
		{"gRPC over a shared port needs HTTP/2", h1, Config{}, []Option{WithSharedPort(SharedPort{Listener: ln, GRPC: http.NotFoundHandler()})}, "shared port"},
		{"a plain shared listener on HTTP/1", h1, Config{}, []Option{WithListener(ln)}, ""},
		{"HTTP/2 takes h2c", Capabilities{Engine: "h2", HTTP2: true}, Config{H2C: true}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.AdminAddr = AdminOff
			built := false
			r, err := NewRuntime(tc.cfg, tc.caps, func(*Setup) (Transport, error) {
				built = true
				return newFake(false), nil
			}, tc.opts...)
			if tc.option == "" {
				if err != nil || !built {
					t.Fatalf("NewRuntime = %v (built %v), want it accepted", err, built)
				}
				return
			}
			if !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrInvalidConfig) || r != nil || built {
				t.Fatalf("NewRuntime = %v, %v (built %v); want ErrUnsupported and ErrInvalidConfig before build", r, err, built)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.option) || !strings.Contains(msg, tc.caps.Engine+" engine") {
				t.Errorf("error %q does not name %q and the engine", msg, tc.option)
			}
		})
	}
}

// TestRuntimeLifecycle: one Run on a transport: the log lines name the
// engine; on shutdown readiness turns 503 before the OnDrain hooks run;
// a transport that outlives the shutdown timeout is closed and Run
// reports it; what the engine registered is closed once.
func TestRuntimeLifecycle(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "clean", true: "timeout"}[fail]
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			var mu sync.Mutex
			log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
			ft := newFake(fail)
			closed := 0
			r, err := NewRuntime(Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 50 * time.Millisecond},
				Capabilities{Engine: "fake"}, func(st *Setup) (Transport, error) {
					st.AddCloser(closerFunc(func() error { closed++; return nil }))
					return ft, nil
				}, WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			drained := make(chan bool, 1)
			r.OnDrain(func() { drained <- !r.Readiness().Ready() })
			if err := r.Listen(); err != nil {
				t.Fatal(err)
			}
			addr := r.Addr().String()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			cancel()
			err = <-done
			if fail != (err != nil) {
				t.Fatalf("Run = %v, want an error: %v", err, fail)
			}
			want := "serve,shutdown"
			if fail {
				want = "serve,shutdown,close"
			}
			// Serve runs on its own goroutine and may come after Shutdown.
			if got := ft.got(); got != want && got != strings.Replace(want, "serve,shutdown", "shutdown,serve", 1) {
				t.Errorf("transport calls %q, want %q", got, want)
			}
			if notReady := <-drained; !notReady {
				t.Error("OnDrain ran before readiness turned 503")
			}
			if closed != 1 {
				t.Errorf("closer closed %d times, want 1", closed)
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				t.Errorf("%s still accepts after Run returned", addr)
			}
			mu.Lock()
			out := logs.String()
			mu.Unlock()
			for _, l := range []string{`msg="admin listening"`, `msg=listening addr=` + addr + ` engine=fake`, `msg="shutting down" engine=fake`} {
				if !strings.Contains(out, l) {
					t.Errorf("log lacks %q:\n%s", l, out)
				}
			}
			if strings.Contains(out, "msg=stopped") == fail {
				t.Errorf("log line stopped present: %v, want %v:\n%s", !fail, !fail, out)
			}
		})
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
