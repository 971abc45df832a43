package doctor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	rpprof "runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/doctor"
)

// closedAddr returns an http:// address on 127.0.0.1 where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestRunRefusesBadTargets(t *testing.T) {
	tokenOnly := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "fine")
	}
	tests := []struct {
		name     string
		handler  http.HandlerFunc // nil: nothing listens
		token    string
		wantErr  error // sentinel, nil for "another error"
		wantText string
	}{
		{"nothing listens", nil, "", doctor.ErrUnreachable, "connection refused"},
		{"401 without a token asks for one", tokenOnly, "", doctor.ErrUnauthorized, "--token"},
		{"401 with a wrong token says it was rejected", tokenOnly, "wrong", doctor.ErrUnauthorized, "rejected"},
		{"403 is an access refusal", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "forbidden", http.StatusForbidden)
		}, "", doctor.ErrUnauthorized, "403 Forbidden"},
		{"404: pprof not mounted", http.NotFound, "", doctor.ErrNotPprof, "404 Not Found"},
		{"an HTML page is not pprof", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<html><body>welcome</body></html>")
		}, "", doctor.ErrNotPprof, "HTML"},
		{"plain text is not a profile", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "hello")
		}, "", doctor.ErrNotPprof, "not a net/http/pprof endpoint"},
		{"a profile of another kind is refused", func(w http.ResponseWriter, _ *http.Request) {
			rpprof.Lookup("heap").WriteTo(w, 0)
		}, "", doctor.ErrNotPprof, `want "goroutine"`},
		{"a server error is reported with its body", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "profiler exploded", http.StatusInternalServerError)
		}, "", nil, "profiler exploded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin := closedAddr(t)
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				admin = srv.URL
			}
			rep, err := doctor.Run(context.Background(), doctor.Config{Admin: admin, Token: tt.token, CPU: time.Second})
			if err == nil {
				t.Fatalf("Run succeeded: %+v", rep)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q is not %v", err, tt.wantErr)
			}
			for _, s := range []error{doctor.ErrUnreachable, doctor.ErrUnauthorized, doctor.ErrNotPprof} {
				if tt.wantErr == nil && errors.Is(err, s) {
					t.Errorf("error %q is %v, want a plain error", err, s)
				}
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantText) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tt.wantText)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		cfg   doctor.Config
		field string
	}{
		{"negative CPU", doctor.Config{CPU: -time.Second}, "CPU"},
		{"negative interval", doctor.Config{Interval: -1}, "Interval"},
		{"negative top", doctor.Config{Top: -1}, "Top"},
		{"negative min growth", doctor.Config{MinGrowth: -2}, "MinGrowth"},
		{"admin without scheme", doctor.Config{Admin: "localhost:6060"}, "Admin"},
	}
	// An output directory that cannot be created is reported after the
	// probe, before any long capture.
	srv := httptest.NewServer(http.HandlerFunc(pprof.Index))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct {
		name  string
		cfg   doctor.Config
		field string
	}{"output directory under a file", doctor.Config{Admin: srv.URL, OutDir: filepath.Join(file, "sub")}, "OutDir"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := doctor.Run(context.Background(), tt.cfg)
			var ce *doctor.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("error = %v, want ConfigError on %s", err, tt.field)
			}
		})
	}
}

// TestTokenIsSent runs a full (short) capture through an authenticating
// front: every request must carry the bearer token.
func TestTokenIsSent(t *testing.T) {
	var mux http.ServeMux
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	rep, err := doctor.Run(context.Background(), doctor.Config{Admin: srv.URL + "/debug/pprof/", Token: "s3cret", CPU: time.Second, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 0 || rep.CPU == nil || rep.Runtime == nil {
		t.Errorf("incomplete report: warnings %q", rep.Warnings)
	}
	if len(rep.Profiles) != 0 {
		t.Errorf("saved %d profiles with no OutDir", len(rep.Profiles))
	}
	if _, ok := rep.Runtime.Sources["rss_bytes"]; ok || rep.Runtime.RSSBytes != 0 {
		t.Errorf("RSS reported without a /metrics endpoint: %+v", rep.Runtime)
	}
}
