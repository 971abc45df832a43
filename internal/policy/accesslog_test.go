package policy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAccessLog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cfg   AccessLogConfig
		check func(t *testing.T, out string)
	}{
		{"text", AccessLogConfig{}, func(t *testing.T, out string) {
			for _, want := range []string{"msg=request", "method=GET", "path=/time", "route=/time", "status=200", "bytes=2", "request_id=abc", "remote=192.0.2.1:1234", "user_agent=probe"} {
				if !strings.Contains(out, want) {
					t.Errorf("text line lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "q=secret") {
				t.Errorf("query logged:\n%s", out)
			}
		}},
		{"json", AccessLogConfig{JSON: true}, func(t *testing.T, out string) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rec); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, out)
			}
			if rec["route"] != "/time" || rec["status"] != float64(200) || rec["request_id"] != "abc" {
				t.Errorf("JSON record = %v", rec)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out syncBuf
			c.cfg.Out = &out
			mw, closer := AccessLog(c.cfg)
			h := Chain(RequestID(), mw)(Labeled("/time", okHandler))
			req := httptest.NewRequest("GET", "/time?q=secret", nil)
			req.RemoteAddr = "192.0.2.1:1234"
			req.Header.Set(RequestIDHeader, "abc")
			req.Header.Set("User-Agent", "probe")
			serve(h, req)
			if err := closer.Close(); err != nil {
				t.Fatal(err)
			}
			c.check(t, out.String())
		})
	}
}

func TestAccessLogBufferedUntilFlush(t *testing.T) {
	t.Parallel()
	var out syncBuf
	l, err := NewAccessLogger(AccessLogConfig{Out: &out, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		l.Log(AccessEntry{Method: "GET", Status: 200})
	}
	if out.String() != "" {
		t.Error("lines reached Out before a flush: the log is not buffered")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 10 {
		t.Errorf("%d lines after Close, want 10", n)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestAccessLogPeriodicFlush(t *testing.T) {
	t.Parallel()
	var out syncBuf
	l, err := NewAccessLogger(AccessLogConfig{Out: &out, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Log(AccessEntry{Method: "GET", Status: 200})
	for out.String() == "" { // the flusher must get it out without Close; the test timeout bounds the wait
		time.Sleep(time.Millisecond)
	}
}

func TestAccessLogSampling(t *testing.T) {
	t.Parallel()
	var out syncBuf
	l, err := NewAccessLogger(AccessLogConfig{Out: &out, Sample: 10})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		l.Log(AccessEntry{Method: "GET", Status: 200})
	}
	for range 3 {
		l.Log(AccessEntry{Method: "GET", Status: 502})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if n := strings.Count(s, "status=200"); n != 10 {
		t.Errorf("%d of 100 sampled at 1/10, want 10", n)
	}
	if n := strings.Count(s, "status=502"); n != 3 {
		t.Errorf("%d of 3 server errors logged, want all 3", n)
	}
	if !strings.Contains(s, "level=ERROR") {
		t.Error("server errors not logged at error level")
	}
}

func TestAccessLogPanicIs500(t *testing.T) {
	t.Parallel()
	var out syncBuf
	mw, closer := AccessLog(AccessLogConfig{Out: &out})
	h := Chain(Recover(nil), mw)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("x") }))
	serve(h, httptest.NewRequest("GET", "/", nil))
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "status=500") || !strings.Contains(out.String(), "route=unmatched") {
		t.Errorf("log = %s", out.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestAccessLogWriteErrorOnClose(t *testing.T) {
	t.Parallel()
	l, err := NewAccessLogger(AccessLogConfig{Out: failWriter{}})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(AccessEntry{Status: 200})
	if err := l.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v, want the write error", err)
	}
}

func TestNewAccessLoggerErrors(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]AccessLogConfig{
		"negative sample":   {Sample: -1},
		"negative buffer":   {BufferSize: -1},
		"negative interval": {FlushInterval: -time.Second},
	} {
		if l, err := NewAccessLogger(cfg); err == nil {
			l.Close()
			t.Errorf("%s: no error", name)
		}
	}
	var _ io.Closer = (*AccessLogger)(nil)
}
