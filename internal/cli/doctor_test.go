package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func pprofServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestDoctorBadInput(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer denied.Close()
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer forbidden.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html></html>")
	}))
	defer html.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	pp := pprofServer(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unreachable admin", []string{"--admin", closed}, "unreachable"},
		{"401", []string{"--admin", denied.URL}, "401 Unauthorized"},
		{"403 with a token", []string{"--admin", forbidden.URL, "--token", "t"}, "403 Forbidden"},
		{"HTML page", []string{"--admin", html.URL}, "HTML"},
		{"no pprof mounted", []string{"--admin", notFound.URL}, "404 Not Found"},
		{"bad scheme", []string{"--admin", "ftp://x"}, "scheme"},
		{"bad output", []string{"--output", "yaml"}, "--output"},
		{"-o is --output, as in bench", []string{"-o", "yaml"}, `--output "yaml"`},
		{"zero cpu", []string{"--cpu", "0s"}, "--cpu"},
		{"negative interval", []string{"--interval", "-1s"}, "--interval"},
		{"bad duration", []string{"--cpu", "soon"}, "invalid argument"},
		{"zero top", []string{"--top", "0"}, "--top"},
		{"stray argument", []string{"now"}, "unknown command"},
		{"output directory cannot be created", []string{"--admin", pp.URL, "--out", filepath.Join(file, "sub")}, "OutDir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"doctor", "--out="}, tt.args...)
			code := Main(args, &out, &errb)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, ExitUsage, errb.String())
			}
			msg := errb.String()
			if !strings.Contains(msg, tt.wantErr) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("stderr %q: want one line containing %q", msg, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("stdout not empty: %q", out.String())
			}
		})
	}
}

func TestDoctorJSONAndSavedProfiles(t *testing.T) {
	srv := pprofServer(t)
	dir := filepath.Join(t.TempDir(), "profiles")
	var out, errb bytes.Buffer
	code := Main([]string{"doctor", "--admin", srv.URL, "--cpu", "1s", "--interval", "1s", "--out", dir, "--output", "json"}, &out, &errb)
	if code != ExitOK {
		t.Fatalf("exit %d; stderr %q", code, errb.String())
	}
	var rep struct {
		Verdict  string `json:"verdict"`
		Profiles []struct{ Name, Path, Open string }
		Warnings []string
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
	}
	if rep.Verdict == "" || len(rep.Warnings) != 0 {
		t.Errorf("verdict %q, warnings %q", rep.Verdict, rep.Warnings)
	}
	names := map[string]bool{}
	for _, p := range rep.Profiles {
		names[p.Name] = true
		if _, err := os.Stat(p.Path); err != nil {
			t.Errorf("profile %s: %v", p.Name, err)
		}
		if strings.HasSuffix(p.Path, ".pb.gz") && !strings.HasPrefix(p.Open, "go tool pprof ") {
			t.Errorf("profile %s: open command %q", p.Name, p.Open)
		}
	}
	for _, n := range []string{"cpu", "heap", "allocs", "mutex", "block", "goroutine-1", "goroutine-2", "goroutine-2-dump"} {
		if !names[n] {
			t.Errorf("profile %s not saved; have %v", n, names)
		}
	}
	if errb.Len() != 0 {
		t.Errorf("stderr not empty with a non-terminal: %q", errb.String())
	}
}

func TestDoctorTextDefault(t *testing.T) {
	srv := pprofServer(t)
	var out, errb bytes.Buffer
	code := Main([]string{"doctor", "--admin", srv.URL, "--cpu", "1s", "--interval", "1s", "--out="}, &out, &errb)
	if code != ExitOK {
		t.Fatalf("exit %d; stderr %q", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "hotpath doctor ") || !strings.Contains(out.String(), "\nVERDICT\n") {
		t.Errorf("text report malformed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "none saved") {
		t.Errorf("--out= should save nothing:\n%s", out.String())
	}
}

// leakTarget is a pprof server whose /leak handler leaks one goroutine per
// request until the test ends.
func leakTarget(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/leak", func(w http.ResponseWriter, _ *http.Request) {
		go func() { <-release }()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

func TestDoctorFailOnSuspect(t *testing.T) {
	srv := leakTarget(t)
	leak := func() {
		if resp, err := http.Get(srv.URL + "/leak"); err == nil {
			resp.Body.Close()
		}
	}
	for range 5 {
		leak()
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // keep leaking while doctor watches
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				leak()
			}
		}
	}()
	var out, errb bytes.Buffer
	code := Main([]string{"doctor", "--admin", srv.URL, "--cpu", "1s", "--interval", "2s", "--out=", "--fail-on-suspect"}, &out, &errb)
	close(stop)
	<-done
	http.DefaultClient.CloseIdleConnections()
	if code != ExitFail {
		t.Fatalf("exit %d, want %d; stderr %q", code, ExitFail, errb.String())
	}
	if !strings.Contains(out.String(), "GOROUTINE LEAK SUSPECTS") || !strings.Contains(out.String(), "#1 ") {
		t.Errorf("report does not show the suspect:\n%s", out.String())
	}
	if errb.Len() != 0 {
		t.Errorf("stderr %q, want nothing: the report says it", errb.String())
	}
}
