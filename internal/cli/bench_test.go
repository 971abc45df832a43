package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/report"
)

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBenchBadInputExitsTwo(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/time"
	ln.Close()
	tests := []struct {
		name string
		args []string
		want string // in the single stderr line
	}{
		{"no URL", []string{"bench"}, "accepts 1 arg"},
		{"bad URL scheme", []string{"bench", "ftp://x/"}, "scheme must be http or https"},
		{"URL without host", []string{"bench", "http:///time"}, "no host"},
		{"unparsable URL", []string{"bench", "http://[::1/"}, "URL"},
		{"unreachable target", []string{"bench", "-n", "1", closed}, "target unreachable"},
		{"bad header syntax", []string{"bench", "-H", "NoColon", "http://127.0.0.1:1/"}, `-H: header "NoColon"`},
		{"header with space in name", []string{"bench", "-H", "A B: c", "http://127.0.0.1:1/"}, "invalid field name"},
		{"rate zero", []string{"bench", "--rate", "0", "http://127.0.0.1:1/"}, "--rate must be > 0"},
		{"negative rate", []string{"bench", "--rate=-5", "http://127.0.0.1:1/"}, "--rate must be > 0"},
		{"rate not a number", []string{"bench", "--rate", "fast", "http://127.0.0.1:1/"}, "invalid argument"},
		{"unknown flag", []string{"bench", "--nope", "http://127.0.0.1:1/"}, "unknown flag"},
		{"zero connections", []string{"bench", "-c", "0", "http://127.0.0.1:1/"}, "connections must be > 0"},
		{"bad output", []string{"bench", "-o", "xml", "http://127.0.0.1:1/"}, "want text or json"},
		{"body and body-file", []string{"bench", "--body", "x", "--body-file", "f", "http://127.0.0.1:1/"}, "exclusive"},
		{"missing body file", []string{"bench", "--body-file", "/nonexistent/x", "http://127.0.0.1:1/"}, "--body-file"},
		{"streams without HTTP/2", []string{"bench", "--streams", "4", "http://127.0.0.1:1/"}, "HTTP/2"},
		{"h2c on https", []string{"bench", "--h2c", "https://127.0.0.1:1/"}, "h2c needs an http URL"},
		{"dead server pid", []string{"bench", "--server-pid", "999999999", "http://127.0.0.1:1/"}, "no such process"},
		{"merge of a missing file", []string{"bench", "merge", "/nonexistent.json"}, "no such file"},
		{"merge with no files", []string{"bench", "merge"}, "requires at least 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(tt.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, ExitUsage, stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("stderr %q: want one line containing %q", stderr, tt.want)
			}
		})
	}
}

func TestBenchRunsAndMerges(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "yes" || r.Method != "POST" {
			w.WriteHeader(http.StatusBadRequest)
		}
		w.Write([]byte("1764175200000"))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	body := filepath.Join(dir, "body.json")
	if err := os.WriteFile(body, []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var files []string
	for i, args := range [][]string{
		{"bench", "-c", "2", "-n", "200", "-m", "POST", "-H", "X-Test: yes", "--body-file", body, "-o", "json", srv.URL},
		{"bench", "-c", "2", "--rate", "400", "-n", "100", "-m", "POST", "-H", "X-Test: yes", "--body", "{}", "-o", "json", srv.URL},
	} {
		code, out, stderr := runMain(args...)
		if code != ExitOK {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr)
		}
		r, err := report.ReadJSON("stdout", []byte(out))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status["200"] == 0 || r.Errors != 0 {
			t.Fatalf("run %d: status %v errors %d", i, r.Status, r.Errors)
		}
		f := filepath.Join(dir, "r"+string(rune('a'+i))+".json")
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	code, out, stderr := runMain(append([]string{"bench", "merge", "-o", "json"}, files...)...)
	if code != ExitOK {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m["requests"] != float64(300) || m["generators"] != float64(2) || m["schema"] != report.Schema {
		t.Fatalf("merged requests %v generators %v schema %v", m["requests"], m["generators"], m["schema"])
	}
	code, out, _ = runMain(append([]string{"bench", "merge"}, files...)...)
	if code != ExitOK || !strings.Contains(out, "Generators  2 (merged)") || !strings.Contains(out, "Requests    300") {
		t.Fatalf("merge text: exit %d\n%s", code, out)
	}
}

func TestBenchServerErrorsAreNotFatal(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	code, out, stderr := runMain("bench", "-c", "1", "-n", "20", srv.URL)
	if code != ExitOK || !strings.Contains(out, "500=20") || !strings.Contains(out, "0 ok, 20 errors") {
		t.Fatalf("exit %d stderr %q\n%s", code, stderr, out)
	}
}

// FuzzBenchFlags: any argument list either yields a valid loadgen config or
// a one-line error; parsing never panics and never touches the network.
func FuzzBenchFlags(f *testing.F) {
	for _, s := range []string{
		"-c 64 -d 10s", "--rate 1000 -n 5", "-H X:1 -H Y:2", "--h2c --streams 8", "--rate -1",
		"--timeout 0s", "-o json --warmup 1s", "--http2 --insecure", "-m POST --body {}", "--rate NaN",
	} {
		f.Add(s, "http://127.0.0.1:8080/time")
	}
	f.Fuzz(func(t *testing.T, flags, url string) {
		o := &benchOptions{}
		cmd := benchCmd(o)
		args := strings.Fields(flags)
		for _, a := range args {
			if strings.Contains(a, "body-file") || strings.Contains(a, "server-pid") || strings.Contains(a, "grpc") {
				return // reads the file system, or (gRPC reflection) the network
			}
		}
		if err := cmd.ParseFlags(args); err != nil {
			return
		}
		c, err := o.config(cmd, url)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.ContainsAny(flags+url, "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("config accepted but invalid: %v", err)
		}
	})
}
