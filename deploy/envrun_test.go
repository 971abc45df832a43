package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// envSource is the part of a container env entry's valueFrom the manifest
// uses: a Secret key or a resource field.
type envSource struct {
	SecretKeyRef *struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	} `json:"secretKeyRef"`
	ResourceFieldRef *struct {
		Resource string `json:"resource"`
		Divisor  string `json:"divisor"`
	} `json:"resourceFieldRef"`
}

// podEnv is the container's environment as the kubelet would hand it to the
// process, except that the listen addresses are moved to free loopback ports
// and every Secret reference resolves to token.
type podEnv struct {
	env        []string          // NAME=value, exactly the manifest's names
	vals       map[string]string // the same, by name
	addr       string            // public address (HOTPATH_ADDR, on loopback)
	admin      string            // admin address (HOTPATH_ADMIN_ADDR, on loopback)
	manifest   map[string]string // the manifest's own values (addresses as written)
	drainDelay time.Duration
}

// freeLoopbackPort returns a 127.0.0.1 port that was free a moment ago.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// quantityBytes converts the binary-suffixed Kubernetes quantities the
// manifest uses (Ki, Mi, Gi) to bytes, as the kubelet does for a
// resourceFieldRef with the default divisor 1.
func quantityBytes(t *testing.T, q string) string {
	t.Helper()
	mult := map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
	for suf, m := range mult {
		if n, ok := strings.CutSuffix(q, suf); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("quantity %q: %v", q, err)
			}
			return strconv.FormatInt(v*m, 10)
		}
	}
	t.Fatalf("quantity %q: this test only resolves Ki, Mi and Gi", q)
	return ""
}

var envRef = regexp.MustCompile(`\$\([A-Za-z_][A-Za-z0-9_]*\)`)

// goMemLimitBytes parses a GOMEMLIMIT value (a byte count, optionally with
// a B, KiB, MiB or GiB suffix) as the Go runtime does for these forms.
func goMemLimitBytes(t *testing.T, v string) int64 {
	t.Helper()
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(v, u.suf); ok {
			v, mult = n, u.m
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("GOMEMLIMIT %q: %v", v, err)
	}
	return n * mult
}

// resolvePodEnv builds the process environment from the Deployment. Any env
// entry it cannot resolve fails the test, so a new kind of entry in the
// manifest cannot slip past it unchecked.
func resolvePodEnv(t *testing.T, c container, token string) podEnv {
	t.Helper()
	p := podEnv{vals: map[string]string{}, manifest: map[string]string{}}
	for _, e := range c.Env {
		v := e.Value
		if len(e.ValueFrom) > 0 {
			var src envSource
			if err := json.Unmarshal(e.ValueFrom, &src); err != nil {
				t.Fatalf("env %s valueFrom: %v", e.Name, err)
			}
			switch {
			case src.SecretKeyRef != nil:
				v = token
			case src.ResourceFieldRef != nil && src.ResourceFieldRef.Resource == "limits.memory":
				lim := c.Resources.Limits["memory"]
				if lim == "" {
					t.Fatalf("env %s refers to limits.memory, which the container does not set", e.Name)
				}
				v = quantityBytes(t, lim)
				if d := src.ResourceFieldRef.Divisor; d != "" {
					// The kubelet divides by the divisor and rounds up.
					b, _ := strconv.ParseInt(v, 10, 64)
					div, err := strconv.ParseInt(d, 10, 64)
					if err != nil || div <= 0 {
						t.Fatalf("env %s: divisor %q: this test only resolves plain byte counts", e.Name, d)
					}
					v = strconv.FormatInt((b+div-1)/div, 10)
				}
			default:
				t.Fatalf("env %s: valueFrom %s is not resolved by this test; teach it", e.Name, e.ValueFrom)
			}
		}
		// $(NAME) refers to an earlier variable of the container, as the
		// kubelet expands it; an unknown name stays as written.
		v = envRef.ReplaceAllStringFunc(v, func(ref string) string {
			if x, ok := p.vals[ref[2:len(ref)-1]]; ok {
				return x
			}
			return ref
		})
		p.manifest[e.Name] = v
		switch e.Name {
		case "HOTPATH_ADDR":
			p.addr = "127.0.0.1:" + freeLoopbackPort(t)
			v = p.addr
		case "HOTPATH_ADMIN_ADDR":
			p.admin = "127.0.0.1:" + freeLoopbackPort(t)
			v = p.admin
		case "HOTPATH_INGEST_SINK":
			// The pod's volume (TestIngestSinkHasAVolume) becomes a
			// temporary directory.
			if strings.HasPrefix(v, "file:") {
				v = "file:" + t.TempDir()
			}
		}
		p.vals[e.Name] = v
		p.env = append(p.env, e.Name+"="+v)
	}
	if p.addr == "" || p.admin == "" {
		t.Fatal("the Deployment must set HOTPATH_ADDR and HOTPATH_ADMIN_ADDR explicitly")
	}
	d, err := time.ParseDuration(p.vals["HOTPATH_DRAIN_DELAY"])
	if err != nil {
		t.Fatalf("HOTPATH_DRAIN_DELAY=%q: %v", p.vals["HOTPATH_DRAIN_DELAY"], err)
	}
	p.drainDelay = d
	return p
}

// buildHotpath compiles ./cmd/hotpath, the binary the Dockerfile ships.
func buildHotpath(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build ./cmd/hotpath: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "hotpath")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/hotpath")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Dockerfile builds it
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hotpath: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutine and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type answer struct {
	code int
	body string
	err  error
}

// fetch GETs url on a new connection, with an optional bearer token.
func fetch(url, token string) answer {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return answer{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), err}
}

// TestManifestEnvRunsServe starts the real binary with exactly the
// Deployment's args and environment (addresses moved to loopback ports, the
// Secret replaced by a test token) and checks what the manifests promise:
// the probes answer on the public port, Prometheus can scrape the admin
// /metrics with the Secret's token and nobody can without it, GOMEMLIMIT
// from the memory limit reaches the runtime, and on SIGTERM /readyz turns
// 503 at once while the pod keeps accepting for the drain delay, lets an
// in-flight request finish, then exits 0.
func TestManifestEnvRunsServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the hotpath binary")
	}
	objs := loadManifests(t)
	ds, c := hotpathDeployment(t, objs)
	const token = "test-admin-token-0123456789"
	pe := resolvePodEnv(t, c, token)
	if pe.drainDelay <= 0 || pe.drainDelay > 8*time.Second {
		t.Fatalf("HOTPATH_DRAIN_DELAY=%v: this test waits through it and expects 0 < delay <= 8s", pe.drainDelay)
	}
	// Kubernetes gives the container only the image's environment plus the
	// manifest's: nothing from the test's own environment may leak in
	// (a HOTPATH_* set in the developer's shell would change the result).
	env := append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, pe.env...)

	bin := buildHotpath(t)
	cmd := exec.Command(bin, c.Args...)
	cmd.Env = env
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the process has exited, with its result in waitErr.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})

	public, admin := "http://"+pe.addr, "http://"+pe.admin
	probes := map[string]*probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	// Startup: the kubelet polls the startup probe for periodSeconds ×
	// failureThreshold; the binary must be up well within that.
	sp := c.StartupProbe
	startBudget := time.Duration(sp.PeriodSeconds*sp.FailureThreshold) * time.Second
	deadline := time.Now().Add(startBudget)
	for {
		a := fetch(public+sp.HTTPGet.Path, "")
		if a.err == nil && a.code == http.StatusOK {
			break
		}
		select {
		case <-exited:
			t.Fatalf("serve exited with the manifest's environment: %v\nstderr:\n%s", waitErr, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("startup probe %s not 200 within %v (last: %d %v)\nstderr:\n%s", sp.HTTPGet.Path, startBudget, a.code, a.err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	t.Run("probes answer 200 on the public port", func(t *testing.T) {
		for name, p := range probes {
			if a := fetch(public+p.HTTPGet.Path, ""); a.err != nil || a.code != http.StatusOK {
				t.Errorf("%s probe GET %s on HOTPATH_ADDR: %d %v, want 200", name, p.HTTPGet.Path, a.code, a.err)
			}
			if a := fetch(admin+p.HTTPGet.Path, token); a.err == nil && a.code == http.StatusOK {
				t.Errorf("%s probe path %s also answers 200 on the admin port; the probes must target the public one", name, p.HTTPGet.Path)
			}
		}
		if a := fetch(public+"/time", ""); a.err != nil || a.code != http.StatusOK {
			t.Errorf("GET /time: %d %v, want 200", a.code, a.err)
		}
	})

	t.Run("POST /ingest stores on the manifest's sink", func(t *testing.T) {
		resp, err := http.Post(public+"/ingest", "application/octet-stream", strings.NewReader("deployed"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || string(b) != `{"offset":0}`+"\n" {
			t.Errorf("POST /ingest: %d %q, want 202 {\"offset\":0}", resp.StatusCode, b)
		}
	})

	t.Run("admin metrics need the Secret's token", func(t *testing.T) {
		path := serviceMonitorPath(t, objs)
		tests := []struct {
			name  string
			token string
			want  int
		}{
			{"Prometheus with the Secret's bearer token scrapes", token, http.StatusOK},
			{"no token is refused", "", http.StatusUnauthorized},
			{"a wrong token is refused", token + "x", http.StatusUnauthorized},
		}
		for _, tt := range tests {
			a := fetch(admin+path, tt.token)
			if a.err != nil || a.code != tt.want {
				t.Errorf("%s: GET %s on HOTPATH_ADMIN_ADDR: %d %v, want %d", tt.name, path, a.code, a.err, tt.want)
			}
			if tt.want == http.StatusOK && !strings.Contains(a.body, "hotpath_http_requests_total") {
				t.Errorf("%s: /metrics lacks hotpath_http_requests_total:\n%.500s", tt.name, a.body)
			}
		}
		if a := fetch(public+path, token); a.err != nil || a.code != http.StatusNotFound {
			t.Errorf("GET %s on the public port: %d %v, want 404 (metrics only on the admin port)", path, a.code, a.err)
		}
	})

	// service.yaml: HTTP/1.1 and gRPC share the public port.
	gc, err := grpc.NewClient(pe.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	health := healthpb.NewHealthClient(gc)
	t.Run("gRPC health serves on the public port", func(t *testing.T) {
		if st := grpcHealth(health); st != healthpb.HealthCheckResponse_SERVING.String() {
			t.Errorf("grpc.health.v1 Check on HOTPATH_ADDR: %s, want SERVING", st)
		}
	})

	t.Run("GOMEMLIMIT from the memory limit reaches the runtime", func(t *testing.T) {
		want, ok := pe.vals["GOMEMLIMIT"]
		if !ok {
			t.Skip("the manifest sets no GOMEMLIMIT")
		}
		wantBytes := goMemLimitBytes(t, want)
		lim, _ := strconv.ParseInt(quantityBytes(t, c.Resources.Limits["memory"]), 10, 64)
		if r := float64(wantBytes) / float64(lim); r < 0.85 || r > 0.95 {
			t.Errorf("GOMEMLIMIT=%s is %.1f%% of the memory limit; want 85-95%% (headroom for non-heap memory)", want, 100*r)
		}
		a := fetch(admin+"/metrics", token)
		line := "go_gc_gomemlimit_bytes " + strconv.FormatInt(wantBytes, 10)
		if a.err != nil || !metricEquals(a.body, "go_gc_gomemlimit_bytes", strconv.FormatInt(wantBytes, 10)) {
			t.Errorf("/metrics lacks %q (GOMEMLIMIT=%s not in effect?): %v", line, want, a.err)
		}
	})

	// Drain: SIGTERM, as the kubelet sends it.
	slow := make(chan answer, 1)
	inflightMs := pe.drainDelay.Milliseconds() + 1000 // still running when the drain delay ends
	go func() { slow <- fetch(fmt.Sprintf("%s/delay?ms=%d", public, inflightMs), "") }()
	waitInFlight(t, admin, token)
	sigAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The readiness probe must see 503 well within periodSeconds ×
	// failureThreshold, the time TestGracePeriodCoversDrain budgets.
	rp := c.ReadinessProbe
	notice := time.Duration(rp.PeriodSeconds*rp.FailureThreshold) * time.Second
	var turned time.Duration
	for {
		a := fetch(public+rp.HTTPGet.Path, "")
		if a.err == nil && a.code == http.StatusServiceUnavailable {
			turned = time.Since(sigAt)
			break
		}
		if time.Since(sigAt) > notice {
			t.Fatalf("readiness %s still %d %v %v after SIGTERM; want 503 at once", rp.HTTPGet.Path, a.code, a.err, time.Since(sigAt))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("readiness turned 503 %v after SIGTERM", turned)
	if st := grpcHealth(health); st != healthpb.HealthCheckResponse_NOT_SERVING.String() {
		t.Errorf("gRPC health after SIGTERM, during the drain delay: %s, want NOT_SERVING", st)
	}
	// For the drain delay the pod keeps accepting new connections and
	// serving (endpoints controllers and balancers are still sending).
	// Probe until shortly before the delay ends; leave a margin for a
	// loaded machine.
	for until := sigAt.Add(pe.drainDelay - 500*time.Millisecond); time.Now().Before(until); time.Sleep(250 * time.Millisecond) {
		a := fetch(public+"/time", "")
		if time.Now().After(until) {
			break // the answer may legitimately come after the delay
		}
		if a.err != nil || a.code != http.StatusOK {
			t.Fatalf("GET /time on a new connection %v after SIGTERM (drain delay %v): %d %v; the listener must keep accepting during the drain delay",
				time.Since(sigAt), pe.drainDelay, a.code, a.err)
		}
		select {
		case <-exited:
			t.Fatalf("serve exited %v after SIGTERM, before HOTPATH_DRAIN_DELAY=%v: %v", time.Since(sigAt), pe.drainDelay, waitErr)
		default:
		}
	}
	select {
	case <-exited:
		t.Fatalf("serve exited %v after SIGTERM, before HOTPATH_DRAIN_DELAY=%v: %v", time.Since(sigAt), pe.drainDelay, waitErr)
	default:
	}
	grace := time.Duration(ds.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	select {
	case <-exited:
	case <-time.After(grace):
		t.Fatalf("serve still running %v after SIGTERM (terminationGracePeriodSeconds): the kubelet would SIGKILL it\nstderr:\n%s", grace, stderr.String())
	}
	took := time.Since(sigAt)
	if waitErr != nil {
		t.Errorf("serve after SIGTERM: %v, want exit 0\nstderr:\n%s", waitErr, stderr.String())
	}
	if took < pe.drainDelay {
		t.Errorf("serve exited %v after SIGTERM, before HOTPATH_DRAIN_DELAY=%v", took, pe.drainDelay)
	}
	if a := <-slow; a.err != nil || a.code != http.StatusOK {
		t.Errorf("request in flight across the drain (/delay?ms=%d): %d %v, want 200", inflightMs, a.code, a.err)
	}
	if c, err := net.DialTimeout("tcp", pe.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepting after serve exited", pe.addr)
	}
}

// grpcHealth returns the server's overall gRPC health status, or the error.
func grpcHealth(c healthpb.HealthClient) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return "error: " + err.Error()
	}
	return r.GetStatus().String()
}

// metricEquals reports whether the Prometheus text exposition body has an
// unlabelled sample name whose value equals want numerically.
func metricEquals(body, name, want string) bool {
	w, err := strconv.ParseFloat(want, 64)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(body, "\n") {
		v, ok := strings.CutPrefix(l, name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err == nil && f == w
	}
	return false
}

// waitInFlight polls the admin /metrics until a request is in flight.
func waitInFlight(t *testing.T, admin, token string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := fetch(admin+"/metrics", token); a.err == nil && metricEquals(a.body, "hotpath_http_requests_in_flight", "1") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the /delay request never became in flight")
}

// serviceMonitor is the part of a ServiceMonitor spec the tests read.
type serviceMonitor struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	Endpoints []struct {
		Port          string `json:"port"`
		Path          string `json:"path"`
		Authorization struct {
			Type        string `json:"type"`
			Credentials struct {
				Name string `json:"name"`
				Key  string `json:"key"`
			} `json:"credentials"`
		} `json:"authorization"`
	} `json:"endpoints"`
}

// serviceMonitorPath returns the path the ServiceMonitor scrapes
// (TestServiceMonitorScrapesAdminPort checks the rest of it).
func serviceMonitorPath(t *testing.T, objs []object) string {
	t.Helper()
	o, ok := find(objs, "ServiceMonitor", "hotpath")
	if !ok {
		t.Fatal("no ServiceMonitor named hotpath")
	}
	sm := spec[serviceMonitor](t, o)
	if len(sm.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints, want 1", len(sm.Endpoints))
	}
	if p := sm.Endpoints[0].Path; p != "" {
		return p
	}
	return "/metrics" // the Prometheus Operator's default
}
