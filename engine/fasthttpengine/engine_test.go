package fasthttpengine

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/internal/lazyctx"
	"github.com/hotpath-dev/hotpath/server"
)

func TestUnsupportedOptions(t *testing.T) {
	tests := []struct {
		name   string
		cfg    server.Config
		option string
	}{
		{"h2c", server.Config{H2C: true}, "h2c"},
		{"TLS certificate", server.Config{TLSCert: "c.pem", TLSKey: "k.pem"}, "tls-cert"},
		{"self-signed TLS", server.Config{TLSSelfSigned: true}, "tls-self-signed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.AdminAddr = server.AdminOff
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrUnsupported) || !errors.Is(err, server.ErrInvalidConfig) {
				t.Fatalf("New: %v; want ErrUnsupported and ErrInvalidConfig", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.option) || !strings.Contains(msg, "fasthttp") {
				t.Errorf("error %q does not name option %q and the engine", msg, tc.option)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	_, err := New(server.Config{AdminAddr: "0.0.0.0:6060"})
	if !errors.Is(err, server.ErrInvalidConfig) {
		t.Fatalf("non-loopback admin without a token: %v; want ErrInvalidConfig", err)
	}
}

func TestHandlePanics(t *testing.T) {
	s := newTestServer(t)
	for _, p := range []string{"GET /time", "bad"} {
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.HasPrefix(v.(string), "hotpath:") {
					t.Errorf("Handle(%q): recovered %v; want a hotpath: panic", p, v)
				}
			}()
			s.Handle(p, func(*fasthttp.RequestCtx) {})
		}()
	}
}

// TestRecover checks that a panicking handler becomes a 500 that keeps the
// request ID and is counted, and that the engine goes on serving.
func TestRecover(t *testing.T) {
	s := newTestServer(t)
	s.Handle("GET /boom", func(*fasthttp.RequestCtx) { panic("boom") })
	h := s.Handler()
	ctx := newCtx("GET", "/boom", map[string]string{"X-Request-ID": "rid-1"})
	h(ctx)
	if code, id := ctx.Response.StatusCode(), string(ctx.Response.Header.Peek("X-Request-Id")); code != 500 || id != "rid-1" {
		t.Fatalf("panic: %d, X-Request-ID %q; want 500, rid-1", code, id)
	}
	if body := string(ctx.Response.Body()); body != bodyInternal {
		t.Errorf("panic body %q", body)
	}
	ctx = newCtx("GET", "/json", nil)
	h(ctx)
	if ctx.Response.StatusCode() != 200 {
		t.Errorf("after a panic: %d", ctx.Response.StatusCode())
	}
}

// TestContext checks the on-demand request context: it carries the request
// deadline, ends when the handler returns, and outlives the RequestCtx.
func TestContext(t *testing.T) {
	s, err := New(server.Config{AdminAddr: server.AdminOff, RequestTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	var kept context.Context
	var id string
	s.Handle("GET /ctx", func(ctx *fasthttp.RequestCtx) {
		kept = Context(ctx)
		if Context(ctx) != kept {
			t.Error("Context returned a different context on the second call")
		}
		id = string(RequestID(ctx))
		if d, ok := kept.Deadline(); !ok || time.Until(d) < 59*time.Minute {
			t.Errorf("deadline %v %v; want about an hour from now", d, ok)
		}
		if kept.Err() != nil {
			t.Errorf("context ended during the handler: %v", kept.Err())
		}
	})
	s.Handler()(newCtx("GET", "/ctx", map[string]string{"X-Request-ID": "ctx-1"}))
	if kept == nil || !errors.Is(kept.Err(), context.Canceled) {
		t.Fatalf("after the handler returned: %v; want context.Canceled", kept)
	}
	if id != "ctx-1" {
		t.Errorf("RequestID %q, want ctx-1", id)
	}
	// Outside this engine, Context falls back to the RequestCtx itself.
	var plain fasthttp.RequestCtx
	if Context(&plain) != context.Context(&plain) || RequestID(&plain) != nil {
		t.Error("Context/RequestID of a foreign RequestCtx")
	}
}

type ctxKey struct{}

// TestContextStartsOnDone checks the lazy part of the request context:
// Deadline and Value answer without starting the timer and the disconnect
// watcher; a context first waited on after the handler returned is already
// cancelled; a child context made during the handler ends with it.
func TestContextStartsOnDone(t *testing.T) {
	s, err := New(server.Config{AdminAddr: server.AdminOff, RequestTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	s.base = context.WithValue(s.base, ctxKey{}, "base value")
	var lazy, child context.Context
	var rc *lazyctx.Context
	s.Handle("GET /lazy", func(ctx *fasthttp.RequestCtx) {
		lazy = Context(ctx)
		rc = lazy.(*lazyctx.Context)
		if _, ok := lazy.Deadline(); !ok {
			t.Error("no deadline")
		}
		if v := lazy.Value(ctxKey{}); v != "base value" {
			t.Errorf("Value = %v, want the base context's", v)
		}
		if rc.Started() {
			t.Error("Deadline or Value started the context")
		}
	})
	s.Handle("GET /child", func(ctx *fasthttp.RequestCtx) {
		var cancel context.CancelFunc
		child, cancel = context.WithCancel(Context(ctx))
		_ = cancel // ends with the request
		if child.Err() != nil || !Context(ctx).(*lazyctx.Context).Started() {
			t.Error("WithCancel on the request context did not start it")
		}
	})
	h := s.Handler()
	h(newCtx("GET", "/lazy", nil))
	if rc.Started() {
		t.Error("a context nobody waited on was started")
	}
	select {
	case <-lazy.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done after the handler returned is not closed")
	}
	if !errors.Is(lazy.Err(), context.Canceled) {
		t.Errorf("Err after the handler returned: %v, want context.Canceled", lazy.Err())
	}
	h(newCtx("GET", "/child", nil))
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child of the request context outlived the request")
	}
}

// TestRefusesHTTP2SharedPort: a shared port whose splitter terminated TLS
// or that hands gRPC over HTTP/2 to the HTTP side needs HTTP/2, which
// fasthttp does not speak: refused at New, not ignored.
func TestRefusesHTTP2SharedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = New(server.Config{AdminAddr: server.AdminOff},
		server.WithSharedPort(server.SharedPort{Listener: ln, GRPC: http.NotFoundHandler()}))
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, server.ErrInvalidConfig) || !strings.Contains(err.Error(), "fasthttp") {
		t.Fatalf("New = %v; want ErrUnsupported and ErrInvalidConfig naming fasthttp", err)
	}
}
