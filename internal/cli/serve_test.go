package cli

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// assertFree fails unless addr can be bound, i.e. nothing listens there.
func assertFree(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s is still in use after a failed start: %v", addr, err)
	}
	ln.Close()
}

func TestServeBadInput(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		args    func(addr, admin string) []string
		env     map[string]string
		wantErr string
	}{
		{"unknown flag", func(a, m string) []string { return []string{"serve", "--addr", a, "--admin-addr", m, "--nope"} }, nil, "unknown flag"},
		{"bad duration", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--read-timeout", "5x"}
		}, nil, "--read-timeout"},
		{"negative duration", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--shutdown-timeout", "-1s"}
		}, nil, "shutdown-timeout"},
		{"bad env value names the variable", func(a, m string) []string { return []string{"serve", "--addr", a, "--admin-addr", m} }, map[string]string{"HOTPATH_MAX_INFLIGHT": "lots"}, "HOTPATH_MAX_INFLIGHT"},
		{"bad env duration", func(a, m string) []string { return []string{"serve", "--addr", a, "--admin-addr", m} }, map[string]string{"HOTPATH_DRAIN_DELAY": "soon"}, "HOTPATH_DRAIN_DELAY"},
		{"public port in use", func(_, m string) []string {
			return []string{"serve", "--addr", busy.Addr().String(), "--admin-addr", m}
		}, nil, "address already in use"},
		{"admin port in use", func(a, _ string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", busy.Addr().String()}
		}, nil, "admin listener"},
		{"unreadable certificate", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}
		}, nil, "tls-cert"},
		{"non-loopback admin without token", func(a, _ string) []string { return []string{"serve", "--addr", a, "--admin-addr", "0.0.0.0:0"} }, nil, "admin-token"},
		{"unknown engine", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--engine", "nginx"}
		}, nil, "unknown engine"},
		{"bad access log format", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--access-log-format", "xml"}
		}, nil, "access-log-format"},
		{"invalid auth token", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--auth-token", "a b"}
		}, nil, "auth-token"},
		{"address without port", func(_, m string) []string { return []string{"serve", "--addr", "localhost", "--admin-addr", m} }, nil, "addr"},
		{"stray argument", func(a, m string) []string { return []string{"serve", "--addr", a, "--admin-addr", m, "extra"} }, nil, "unknown command"},
		{"bad otlp protocol", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--otlp-protocol", "http/json"}
		}, nil, "otlp-protocol"},
		{"otlp endpoint not a URL", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--otlp-endpoint", "collector:4317"}
		}, nil, "otlp-endpoint"},
		{"sampling ratio out of range", func(a, m string) []string {
			return []string{"serve", "--addr", a, "--admin-addr", m, "--trace-sampler-arg", "2"}
		}, nil, "trace-sampler"},
		{"bad OTEL_TRACES_SAMPLER names the variable", func(a, m string) []string { return []string{"serve", "--addr", a, "--admin-addr", m} },
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "often"}, "OTEL_TRACES_SAMPLER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			addr, admin := freeAddr(t), freeAddr(t)
			var out, errb bytes.Buffer
			code := Main(tt.args(addr, admin), &out, &errb)
			if code != ExitUsage {
				t.Fatalf("exit code = %d, want %d (stderr %q)", code, ExitUsage, errb.String())
			}
			msg := errb.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("stderr is not exactly one line: %q", msg)
			}
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", msg, tt.wantErr)
			}
			assertFree(t, addr)
			assertFree(t, admin)
		})
	}
}

func TestServePrintConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		lines []string // each must appear as a prefix of some line, fields space-separated
	}{
		{"defaults", nil, nil, []string{"addr :8080 # default", "admin-addr 127.0.0.1:6060 # default", "max-inflight 1024 # default", "access-log false # default"}},
		{"env sets a value", nil, map[string]string{"HOTPATH_MAX_INFLIGHT": "7"}, []string{"max-inflight 7 # HOTPATH_MAX_INFLIGHT"}},
		{"flag wins over env", []string{"--max-inflight", "9"}, map[string]string{"HOTPATH_MAX_INFLIGHT": "7"}, []string{"max-inflight 9 # flag"}},
		{"list from env", nil, map[string]string{"HOTPATH_CORS_ORIGINS": "https://a.example,https://b.example"}, []string{"cors-origins https://a.example,https://b.example # HOTPATH_CORS_ORIGINS"}},
		{"secrets are redacted", []string{"--auth-token", "s3cret", "--admin-token", "adm"}, nil, []string{"auth-token <redacted> # flag", "admin-token <redacted> # flag"}},
		{"computed defaults are shown", []string{"--rate-limit", "2.5", "--auth-token", "x"}, nil, []string{"rate-burst 3 # default", "auth-routes * # default"}},
		{"tracing flags and env", []string{"--otlp-endpoint", "http://c:4318", "--trace-sampler-arg", "0.01", "--trace-response-header"}, map[string]string{"HOTPATH_OTLP_PROTOCOL": "grpc"},
			[]string{"otlp-endpoint http://c:4318 # flag", "trace-sampler-arg 0.01 # flag", "otlp-protocol grpc # HOTPATH_OTLP_PROTOCOL", "trace-response-header true # flag", "service-name hotpath # default"}},
		{"tracing from the OTEL environment", nil,
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER_ARG": "0.01", "OTEL_SERVICE_NAME": "checkout"},
			[]string{"otlp-endpoint http://collector:4318 # OTEL_EXPORTER_OTLP_ENDPOINT", "otlp-protocol http/protobuf # default",
				"trace-sampler parentbased_traceidratio # default", "trace-sampler-arg 0.01 # OTEL_TRACES_SAMPLER_ARG", "service-name checkout # OTEL_SERVICE_NAME"}},
		{"the flag wins over OTEL_*", []string{"--trace-sampler", "always_on"}, map[string]string{"OTEL_TRACES_SAMPLER": "always_off"},
			[]string{"trace-sampler always_on # flag"}},
		{"OTEL_SDK_DISABLED turns the environment's endpoint off", nil,
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
			[]string{"otlp-endpoint http://collector:4318 # OTEL_EXPORTER_OTLP_ENDPOINT (ignored: OTEL_SDK_DISABLED=true"}},
		{"0 prints the default it stands for", []string{"--read-timeout", "0", "--max-connections", "0"}, map[string]string{"HOTPATH_IDLE_TIMEOUT": "0s"}, []string{"read-timeout 15s # flag", "max-connections 10000 # flag", "idle-timeout 2m0s # HOTPATH_IDLE_TIMEOUT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"} {
				t.Setenv(k, "") // the host's must not change the outcome
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			if code := Main(append([]string{"serve", "--print-config"}, tt.args...), &out, &errb); code != ExitOK {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			var norm []string
			for _, l := range strings.Split(out.String(), "\n") {
				norm = append(norm, strings.Join(strings.Fields(l), " "))
			}
			for _, want := range tt.lines {
				found := false
				for _, l := range norm {
					found = found || strings.HasPrefix(l, want)
				}
				if !found {
					t.Errorf("no line %q in:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), "s3cret") || strings.Contains(out.String(), " adm ") {
				t.Error("a secret was printed")
			}
		})
	}
}

func TestServeHelpHasExamples(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"serve", "--help"}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Examples:", "hotpath serve --tls-self-signed", "HOTPATH_", "--max-inflight", "--drain-delay"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestServeHelperProcess is not a test: the process tests below run the
// test binary itself as `hotpath` through it.
func TestServeHelperProcess(t *testing.T) {
	if os.Getenv("GO_SERVE_HELPER_PROCESS") != "1" {
		t.Skip("helper process for the serve process tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args, os.Stdout, os.Stderr))
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveProcess starts `hotpath serve args...` as a child process and waits
// until its /readyz answers. Cleanup kills it if the test left it running.
func serveProcess(t *testing.T, addr string, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestServeHelperProcess$", "--", "serve"}, args...)...)
	cmd.Env = append(os.Environ(), "GO_SERVE_HELPER_PROCESS=1")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, stderr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready: %v; stderr:\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeEnvTakesEffect runs serve configured only through HOTPATH_*
// variables (as the Kubernetes manifests do) and checks that the server uses
// them, not just --print-config.
func TestServeEnvTakesEffect(t *testing.T) {
	addr, admin := freeAddr(t), freeAddr(t)
	t.Setenv("HOTPATH_ADDR", addr)
	t.Setenv("HOTPATH_ADMIN_ADDR", admin)
	t.Setenv("HOTPATH_MAX_BODY_BYTES", "8")
	cmd, _ := serveProcess(t, addr) // ready on the address from the environment
	resp, err := http.Post("http://"+addr+"/echo", "text/plain", strings.NewReader("twenty bytes of body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /echo with 20 bytes, HOTPATH_MAX_BODY_BYTES=8: status %d, want 413", resp.StatusCode)
	}
	if r := get(&http.Transport{DisableKeepAlives: true}, "http://"+admin+"/metrics"); r.err != nil || r.code != 200 {
		t.Errorf("admin /metrics on HOTPATH_ADMIN_ADDR %s: %d %v", admin, r.code, r.err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
}

type getResult struct {
	code int
	body string
	err  error
}

func get(tr *http.Transport, url string) getResult {
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return getResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return getResult{resp.StatusCode, string(b), err}
}

// waitInFlight polls the admin /metrics until a request is in flight.
func waitInFlight(t *testing.T, admin string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r := get(tr, "http://"+admin+"/metrics")
		if r.err == nil && strings.Contains(r.body, "\nhotpath_http_requests_in_flight 1\n") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the /delay request never became in flight")
}

func TestServeProcessSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	addr, admin := freeAddr(t), freeAddr(t)
	cmd, stderr := serveProcess(t, addr, "--addr", addr, "--admin-addr", admin, "--drain-delay", "200ms")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	slow := make(chan getResult, 1)
	go func() { slow <- get(tr, "http://"+addr+"/delay?ms=1500") }()
	waitInFlight(t, admin)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-slow
	if r.err != nil || r.code != 200 || r.body != "ok\n" {
		t.Errorf("in-flight /delay = %d %q %v, want 200 ok", r.code, r.body, r.err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); err != nil || code != 0 {
		t.Fatalf("exit = %v (code %d), want 0; stderr:\n%s", err, code, stderr.String())
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepting after exit", addr)
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("no shutdown line on stderr:\n%s", stderr.String())
	}
}

func TestServeProcessSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	addr, admin := freeAddr(t), freeAddr(t)
	cmd, stderr := serveProcess(t, addr, "--addr", addr, "--admin-addr", admin, "--shutdown-timeout", "60s")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	slow := make(chan getResult, 1)
	go func() { slow <- get(tr, "http://"+addr+"/delay?ms=10000") }()
	waitInFlight(t, admin)
	for i := 0; i < 2; i++ {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if i == 0 { // let the first one start the shutdown
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(stderr.String(), "shutting down") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit = %v, want code 130; stderr:\n%s", err, stderr.String())
	}
	if r := <-slow; r.err == nil {
		t.Errorf("the in-flight request was answered (%d) although the process exited at once", r.code)
	}
	if !strings.Contains(stderr.String(), "second signal") {
		t.Errorf("stderr lacks the second-signal line:\n%s", stderr.String())
	}
}

// Every server.Config field is a serve flag, through configFlags, the one
// table that binds flags, environment variables and --print-config.
func TestEveryConfigFieldIsAFlag(t *testing.T) {
	var c server.Config
	covered := map[uintptr]string{}
	for _, cf := range configFlags {
		covered[reflect.ValueOf(cf.field(&c)).Pointer()] = cf.name
	}
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		if _, ok := covered[v.Field(i).Addr().Pointer()]; !ok {
			t.Errorf("server.Config.%s has no serve flag in configFlags", v.Type().Field(i).Name)
		}
	}
	if len(covered) != len(configFlags) {
		t.Errorf("configFlags has %d entries for %d distinct fields: two flags share a field", len(configFlags), len(covered))
	}
}
