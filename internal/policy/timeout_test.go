package policy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The deadlines below are short so the suite is quick, but no test asserts on
// elapsed time: each waits for an event (Done closing, a response arriving)
// and checks what happened.

func TestTimeoutAnswers503(t *testing.T) {
	t.Parallel()
	lateWrite := make(chan error, 1)
	h := Chain(RequestID(), Timeout(20*time.Millisecond))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Handler", "yes")
		<-r.Context().Done()
		if err := r.Context().Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ctx.Err() = %v, want DeadlineExceeded", err)
		}
		_, err := io.WriteString(w, "too late")
		lateWrite <- err
	}))
	rec := serve(h, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != TimeoutBody {
		t.Errorf("got %d %q, want 503 %q", rec.Code, rec.Body.String(), TimeoutBody)
	}
	if rec.Header().Get("X-Handler") != "" {
		t.Error("the handler's header leaked into the 503")
	}
	if rec.Header().Get(RequestIDHeader) == "" {
		t.Error("the 503 lost the request ID set by an outer middleware")
	}
	if err := <-lateWrite; !errors.Is(err, http.ErrHandlerTimeout) {
		t.Errorf("late write error = %v, want http.ErrHandlerTimeout", err)
	}
}

func TestTimeoutHandlerFinishesInTime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		handler  http.HandlerFunc
		wantCode int
		wantBody string
		wantHdr  map[string]string
	}{
		{"write", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/csv")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "a,b")
		}, http.StatusCreated, "a,b", map[string]string{"Content-Type": "text/csv", "X-Outer": "1"}},
		{"nothing written: 200 with the handler's headers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Only", "header")
		}, http.StatusOK, "", map[string]string{"X-Only": "header", "X-Outer": "1"}},
		{"handler overrides an outer header", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Outer", "2")
			_, _ = io.WriteString(w, "x")
		}, http.StatusOK, "x", map[string]string{"X-Outer": "2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			outer := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Outer", "1")
					next.ServeHTTP(w, r)
				})
			}
			var deadline bool
			h := Chain(outer, Timeout(time.Minute))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, deadline = r.Context().Deadline()
				c.handler(w, r)
			}))
			rec := serve(h, httptest.NewRequest("GET", "/", nil))
			if !deadline {
				t.Error("handler context has no deadline")
			}
			if rec.Code != c.wantCode || rec.Body.String() != c.wantBody {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), c.wantCode, c.wantBody)
			}
			for k, v := range c.wantHdr {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestTimeoutDeadline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		parent time.Duration // 0: no parent deadline
		d      time.Duration
		want   time.Duration // expected deadline from now, ± slack
	}{
		{"own deadline", 0, time.Hour, time.Hour},
		{"earlier parent deadline wins", time.Minute, time.Hour, time.Minute},
		{"earlier own deadline wins", time.Hour, time.Minute, time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if c.parent > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.parent)
				defer cancel()
			}
			var got time.Time
			var ok bool
			start := time.Now()
			Timeout(c.d)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, ok = r.Context().Deadline()
			})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
			if !ok {
				t.Fatal("no deadline")
			}
			if off := got.Sub(start.Add(c.want)); off < -time.Second || off > time.Second {
				t.Errorf("deadline %v from start, want about %v", got.Sub(start), c.want)
			}
		})
	}
}

func TestTimeoutDisabled(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, -time.Second} {
		h := Timeout(d)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := r.Context().Deadline(); ok {
				t.Errorf("Timeout(%v) set a deadline", d)
			}
			if _, ok := w.(*timeoutWriter); ok {
				t.Errorf("Timeout(%v) wrapped the writer", d)
			}
		}))
		serve(h, httptest.NewRequest("GET", "/", nil))
	}
}

func TestTimeoutContextCanceledAfterReturn(t *testing.T) {
	t.Parallel()
	var ctx context.Context
	Timeout(time.Hour)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx = r.Context()
		_ = ctx.Done() // a retained Done channel must close too
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	select {
	case <-ctx.Done():
	default:
		t.Fatal("context not canceled after the handler returned")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err = %v, want Canceled", ctx.Err())
	}
}

func TestTimeoutParentCancelPropagates(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	h := Timeout(time.Hour)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel() // the client went away
		<-r.Context().Done()
		got <- r.Context().Err()
	}))
	serve(h, httptest.NewRequest("GET", "/", nil).WithContext(parent))
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("Err = %v, want Canceled from the parent", err)
	}
}

func TestTimeoutValuesPassThrough(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	Chain(RequestID(), Timeout(time.Hour), Timeout(time.Minute))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(key{}) != "v" {
			t.Error("parent value lost")
		}
		if RequestIDFrom(r.Context()) == "" {
			t.Error("request ID lost below nested timeouts")
		}
		if d, _ := r.Context().Deadline(); time.Until(d) > 2*time.Minute {
			t.Errorf("nested Timeout: deadline in %v, want the inner minute", time.Until(d))
		}
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
}

// TestTimeoutRealServer checks, over a real connection, that the 503 reaches
// the client while the handler is still running (it ignores its context and
// waits for the test), and that the connection then serves the next request.
func TestTimeoutRealServer(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	stuck := func() { once.Do(func() { close(release) }) }
	t.Cleanup(stuck)
	h := Timeout(30 * time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" {
			<-release // ignores the context on purpose
			_, _ = io.WriteString(w, "late")
			return
		}
		_, _ = io.WriteString(w, "quick")
	}))
	srv := newServer(t, h)
	code, body, _ := get(t, srv.Client(), srv.URL+"/stuck")
	if code != http.StatusServiceUnavailable || body != TimeoutBody {
		t.Errorf("stuck: %d %q, want 503", code, body)
	}
	stuck() // only now may the handler return: the 503 came before
	if code, body, _ := get(t, srv.Client(), srv.URL+"/quick"); code != 200 || body != "quick" {
		t.Errorf("next request: %d %q, want 200 quick", code, body)
	}
}

// TestTimeoutEarlyHints checks over a real connection that a 1xx passes
// through and does not commit the response.
func TestTimeoutEarlyHints(t *testing.T) {
	t.Parallel()
	h := Timeout(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusAccepted)
	}))
	srv := newServer(t, h)
	if code, _, hdr := get(t, srv.Client(), srv.URL); code != http.StatusAccepted || hdr.Get("Link") == "" {
		t.Errorf("got %d %v, want 202 with Link", code, hdr)
	}
}

// TestTimeoutRace has the handler write while the deadline fires, many
// times; under -race any unsynchronised access fails the test, and every
// response must be either the handler's or the 503, never a mix.
func TestTimeoutRace(t *testing.T) {
	t.Parallel()
	h := Timeout(time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/x-handler")
		time.Sleep(time.Millisecond) // lands on either side of the deadline
		_, _ = io.WriteString(w, "handler")
	}))
	for i := range 200 {
		rec := serve(h, httptest.NewRequest("GET", "/", nil))
		switch {
		case rec.Code == 200 && rec.Body.String() == "handler" && rec.Header().Get("Content-Type") == "text/x-handler":
		case rec.Code == 503 && rec.Body.String() == TimeoutBody && strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"):
		default:
			t.Fatalf("run %d: mixed response %d %q %v", i, rec.Code, rec.Body.String(), rec.Header())
		}
	}
}

// hijackRecorder is a ResponseRecorder that can be hijacked.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	hijacked bool
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	return nil, nil, nil
}

func TestTimeoutKeepsFlushAndHijack(t *testing.T) {
	t.Parallel()
	t.Run("flush commits the response", func(t *testing.T) {
		rec := httptest.NewRecorder()
		Timeout(time.Hour)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-A", "1")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush through ResponseController: %v", err)
			}
		})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if !rec.Flushed || rec.Header().Get("X-A") != "1" {
			t.Errorf("flushed=%v headers=%v", rec.Flushed, rec.Header())
		}
	})
	t.Run("hijack reaches the writer below", func(t *testing.T) {
		rec := &hijackRecorder{ResponseRecorder: httptest.NewRecorder()}
		Timeout(time.Hour)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, _, err := http.NewResponseController(w).Hijack(); err != nil {
				t.Errorf("Hijack: %v", err)
			}
		})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if !rec.hijacked {
			t.Error("Hijack did not reach the writer below")
		}
	})
	t.Run("deadline setters reach the writer below", func(t *testing.T) {
		Timeout(time.Hour)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second))
			if !errors.Is(err, http.ErrNotSupported) { // the recorder has no deadlines: the call got through to it
				t.Errorf("SetWriteDeadline = %v, want ErrNotSupported from the recorder", err)
			}
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})
}

func TestTimeoutGate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		steps       func(g *TimeoutGate) []bool
		wantResults []bool
	}{
		{"handler commits first: timeout loses", func(g *TimeoutGate) []bool {
			ok := g.Enter()
			g.Commit()
			g.Leave()
			return []bool{ok, g.Expire(), g.Close()}
		}, []bool{true, false, false}},
		{"timeout first: handler's writes refused", func(g *TimeoutGate) []bool {
			exp := g.Expire()
			g.Leave()
			return []bool{exp, g.Enter(), g.Close()}
		}, []bool{true, false, true}},
		{"uncommitted write (1xx) does not stop the timeout", func(g *TimeoutGate) []bool {
			ok := g.Enter()
			g.Leave()
			exp := g.Expire()
			g.Leave()
			return []bool{ok, exp}
		}, []bool{true, true}},
		{"closed gate: nothing more", func(g *TimeoutGate) []bool {
			closed := g.Close()
			return []bool{closed, g.Expire(), g.Enter()}
		}, []bool{false, false, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var g TimeoutGate
			got := c.steps(&g)
			for i := range got {
				if got[i] != c.wantResults[i] {
					t.Fatalf("results = %v, want %v", got, c.wantResults)
				}
			}
		})
	}
}

// TestTimeoutTrailers checks over a real connection that trailers set after
// the body, declared or with http.TrailerPrefix, reach the client.
func TestTimeoutTrailers(t *testing.T) {
	t.Parallel()
	h := Timeout(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Declared")
		_, _ = io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Declared", "d")
		w.Header().Set(http.TrailerPrefix+"X-Late", "l")
	}))
	srv := newServer(t, h)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.Trailer.Get("X-Declared") != "d" || resp.Trailer.Get("X-Late") != "l" {
		t.Errorf("trailers = %v, want X-Declared=d and X-Late=l", resp.Trailer)
	}
}
