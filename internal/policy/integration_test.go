package policy

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDefaultChainRealServer runs the default chain on a real net/http server
// and checks that flushing, hijacking and ResponseController still work
// through its writer wrappers, and that metrics see each request.
func TestDefaultChainRealServer(t *testing.T) {
	t.Parallel()
	m, err := NewHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	chain := Chain(Recover(slog.New(slog.NewTextHandler(&logs, nil))), RequestID(), Metrics(m), Timeout(5*time.Second))
	mux := http.NewServeMux()
	mux.Handle("GET /stream", Labeled("/stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "one\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
			t.Errorf("SetWriteDeadline through the wrappers: %v", err)
		}
		_, _ = io.WriteString(w, "two\n")
	})))
	mux.Handle("GET /hijack", Labeled("/hijack", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nhijackd")
		_ = rw.Flush()
	})))
	srv := newServer(t, chain(mux))

	code, body, hdr := get(t, srv.Client(), srv.URL+"/stream")
	if code != 200 || body != "one\ntwo\n" || hdr.Get(RequestIDHeader) == "" {
		t.Errorf("stream: %d %q id=%q", code, body, hdr.Get(RequestIDHeader))
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the hijacked response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hijackd" {
		t.Errorf("hijack body %q", b)
	}

	if code, _, _ := get(t, srv.Client(), srv.URL+"/nowhere"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
	for _, c := range []struct{ route, code string }{{"/stream", "200"}, {UnmatchedRoute, "404"}} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(c.route, "GET", c.code)); got != 1 {
			t.Errorf("requests{%s,GET,%s} = %v, want 1", c.route, c.code, got)
		}
	}
	if logs.String() != "" {
		t.Errorf("unexpected log output: %s", logs.String())
	}
}
