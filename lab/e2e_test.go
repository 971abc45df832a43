package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// hotpathBinary builds the real binary once (CGO_ENABLED=0, as the
// Dockerfile builds it) into a directory TestMain removes.
func hotpathBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "lab-e2e-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "hotpath"), "github.com/hotpath-dev/hotpath/cmd/hotpath")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = &buildError{err, out.String()}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "hotpath")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "building hotpath: " + e.err.Error() + "\n" + e.out }

// TestE2E runs `hotpath lab --quick --peers auto` (every scenario) on the
// real binary, validates report.json against the schema, and opens
// report.html in headless Chromium: the rendered DOM must hold every
// scenario's table and every chart with its data points.
func TestE2E(t *testing.T) {
	bin := hotpathBinary(t)
	t.Run("pinning", func(t *testing.T) { testPinning(t, bin) })

	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "lab", "--quick", "--peers", "auto", "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("hotpath lab: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("hotpath lab --quick took %v", time.Since(start).Round(time.Second))
	// Not a terminal: stdout holds the report paths and nothing else.
	want := []string{filepath.Join(out, "report.json"), filepath.Join(out, "report.md"), filepath.Join(out, "report.html")}
	if got := strings.Fields(stdout.String()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("stdout %q, want the three report paths", stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr not empty without a terminal: %q", stderr.String())
	}

	js, err := os.ReadFile(want[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(js); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	rows := map[string]map[string]Row{}
	for _, s := range rep.Scenarios {
		rows[s.ID] = map[string]Row{}
		for _, r := range s.Rows {
			rows[s.ID][r.Name] = r
			// protocols waits for its issue: its rows say so (issue 14).
			if s.ID == Protocols && r.Status == "not built yet" {
				continue
			}
			if !r.OK() && !strings.HasPrefix(r.Status, "not installed (") {
				t.Errorf("%s/%s: status %q, want ok or not installed", s.ID, r.Name, r.Status)
			}
		}
	}
	for _, c := range serverContenders {
		r, ok := rows[Servers][c.Name]
		switch {
		case !ok:
			t.Errorf("servers: no row %s", c.Name)
		case c.Peer == "" && !r.OK():
			t.Errorf("servers/%s: a Go row must run everywhere, got %q", c.Name, r.Status)
		case r.OK():
			for _, k := range []string{"rps", "cpu_us_per_req", "p50_ms", "p99_ms", "startup_rss_mb"} {
				if r.Metrics[k] <= 0 {
					t.Errorf("servers/%s: %s = %v, want > 0", c.Name, k, r.Metrics[k])
				}
			}
			if _, ok := r.Metrics["conn_kb"]; !ok && c.Name != "gunicorn-flask" {
				t.Errorf("servers/%s: no idle-connection figure", c.Name)
			}
		}
	}
	for _, n := range []string{"hotpath-nethttp", "hotpath-fasthttp"} {
		r := rows[GC][n]
		if !r.OK() || r.Metrics["allocs_per_req"] <= 0 || r.Metrics["allocs_per_s"] <= 0 {
			t.Errorf("gc/%s: %q %v", n, r.Status, r.Metrics)
		}
	}
	if nh, fh := rows[GC]["hotpath-nethttp"].Metrics["allocs_per_req"], rows[GC]["hotpath-fasthttp"].Metrics["allocs_per_req"]; nh <= fh {
		t.Errorf("gc: net/http engine allocates %v per request, fasthttp %v: the pooled engine should allocate less", nh, fh)
	}
	for _, c := range chainRows {
		r := rows[Chain][c.name]
		if !r.OK() || r.Metrics["rps"] <= 0 || r.Metrics["cpu_us_per_req"] <= 0 || r.Metrics["p99_ms"] <= 0 || r.Metrics["events_per_fsync"] < 1 {
			t.Errorf("chain/%s: %q %v", c.name, r.Status, r.Metrics)
		}
		if c.batch == 1 && r.Metrics["events_per_fsync"] != 1 {
			t.Errorf("chain/%s: %v events per fsync, want 1 (an fsync per event)", c.name, r.Metrics["events_per_fsync"])
		}
		if c.batch > 1 && r.Metrics["events_per_fsync"] <= 1 {
			t.Errorf("chain/%s: %v events per fsync, want more than 1 (the batch stage)", c.name, r.Metrics["events_per_fsync"])
		}
	}
	for _, n := range []string{"grpc-go", "grpc-native", "hotpath-transcoding"} {
		if r := rows[Gateway][n]; !r.OK() || r.Metrics["p95_ms"] <= 0 || r.Metrics["cpu_us_per_req"] <= 0 || r.Metrics["alloc_kb_per_req"] <= 0 {
			t.Errorf("gateway/%s: %q %v", n, r.Status, r.Metrics)
		}
	}
	if !hasRatio(rep, Gateway, "grpc-native", "grpc-go") {
		t.Error("gateway: no ratio hotpath gRPC / bare grpc-go")
	}
	if r := rows[Gateway]["grpc-gateway-proxy"]; r.OK() && r.Metrics["alloc_kb_per_req"] <= rows[Gateway]["hotpath-transcoding"].Metrics["alloc_kb_per_req"] {
		t.Errorf("gateway: the proxy allocates %v KB per request, in-process transcoding %v: the proxy's second hop must cost more",
			r.Metrics["alloc_kb_per_req"], rows[Gateway]["hotpath-transcoding"].Metrics["alloc_kb_per_req"])
	}
	checkRendered(t, want[2], rep)
}

// testPinning: lab-exec's child runs on the CPU asked for, as the same PID.
func testPinning(t *testing.T, bin string) {
	cpu := runtime.NumCPU() - 1
	cmd := exec.Command(bin, "lab-exec", "--cpu", strconv.Itoa(cpu), "--", "sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	re := regexp.MustCompile(`(?m)^Cpus_allowed_list:\s*(\S+)`)
	var last string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
		if m := re.FindSubmatch(st); m != nil && strings.TrimSpace(string(comm)) == "sleep" {
			if last = string(m[1]); last == strconv.Itoa(cpu) {
				return
			}
		}
	}
	t.Fatalf("lab-exec --cpu %d: the child runs on CPUs %q", cpu, last)
}

// checkRendered opens report.html in headless Chromium (when installed;
// HOTPATH_REQUIRE_CHROMIUM=1, set by .ci/run, makes it required) and checks
// the rendered DOM; without Chromium it checks the parsed page instead.
func checkRendered(t *testing.T, page string, rep Report) {
	dom, err := renderChromium(t, page)
	if err != nil {
		if os.Getenv("HOTPATH_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("headless Chromium: %v", err)
		}
		t.Logf("headless Chromium unavailable (%v): checking the parsed page instead", err)
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		dom = string(b)
	}
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]*html.Node{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for _, a := range n.Attr {
			if a.Key == "id" {
				ids[a.Val] = n
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for _, s := range rep.Scenarios {
		tbl := ids["table-"+s.ID]
		if tbl == nil {
			t.Errorf("rendered page: no table for scenario %s", s.ID)
			continue
		}
		if got := count(tbl, "tr") - 1; got != len(s.Rows) {
			t.Errorf("table-%s: %d rows, want %d", s.ID, got, len(s.Rows))
		}
	}
	charts := map[string]string{"chart-servers-cpu": "cpu_us_per_req", "chart-servers-rss": "startup_rss_mb",
		"chart-servers-conn": "conn_kb", "chart-servers-latency": "", "chart-gc-allocs": "allocs_per_req", "chart-gc-latency": "",
		"chart-gateway-cpu": "cpu_us_per_req", "chart-gateway-alloc": "alloc_kb_per_req", "chart-gateway-latency": ""}
	scenarios := map[string]Scenario{}
	for _, s := range rep.Scenarios {
		scenarios[s.ID] = s
	}
	for id, metric := range charts {
		svg := ids[id]
		if svg == nil || svg.Data != "svg" {
			t.Errorf("rendered page: no SVG chart %s", id)
			continue
		}
		scen := scenarios[strings.SplitN(id, "-", 3)[1]]
		want := 0
		for _, r := range scen.Rows {
			if _, ok := r.Metrics[metric]; ok && r.OK() && metric != "" {
				want++
			}
			if metric == "" && r.OK() {
				want += len(r.Latency)
			}
		}
		got := countClass(svg, "bar") + countClass(svg, "pt")
		if want == 0 || got != want {
			t.Errorf("%s: %d data points drawn, want %d (one per measured row or curve point)", id, got, want)
		}
	}
}

// renderChromium returns the DOM headless Chromium renders from page, and
// writes a screenshot beside it (or into $HOTPATH_TEST_ARTIFACTS).
func renderChromium(t *testing.T, page string) (string, error) {
	var bin string
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		return "", exec.ErrNotFound
	}
	flags := func(profile string) []string {
		return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
			"--user-data-dir=" + profile}
	}
	run := func(args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	dom, logs, err := run(append(flags(t.TempDir()), "--dump-dom", "file://"+page)...)
	if err != nil {
		return "", err
	}
	if strings.Contains(logs, "CONSOLE") || strings.Contains(logs, "Uncaught") {
		t.Errorf("Chromium console messages while rendering report.html:\n%s", logs)
	}
	dir := os.Getenv("HOTPATH_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Dir(page)
	}
	shot := filepath.Join(dir, "lab-report.png")
	if _, _, err := run(append(flags(t.TempDir()), "--screenshot="+shot, "--window-size=1200,3000", "file://"+page)...); err != nil {
		t.Errorf("screenshot: %v", err)
	} else if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("screenshot %s not written", shot)
	} else {
		t.Logf("screenshot: %s", shot)
	}
	return dom, nil
}

func count(n *html.Node, tag string) int {
	c := 0
	if n.Type == html.ElementNode && n.Data == tag {
		c++
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c += count(ch, tag)
	}
	return c
}

func countClass(n *html.Node, class string) int {
	c := 0
	for _, a := range n.Attr {
		if a.Key == "class" && a.Val == class {
			c++
		}
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c += countClass(ch, class)
	}
	return c
}

// TestE2EInterrupt: SIGINT stops the run, the report of what was gathered
// is written with "interrupted": true, and no server the lab started
// survives it.
func TestE2EInterrupt(t *testing.T) {
	bin := hotpathBinary(t)
	out := t.TempDir()
	cmd := exec.Command(bin, "lab", "--quick", "--only", "gc", "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once a server of this binary runs. Seen once is enough: a
	// server whose start failed (a port taken meanwhile) exits at once and
	// the lab starts another, so a second look may find none.
	seen := false
	for deadline := time.Now().Add(30 * time.Second); !seen && time.Now().Before(deadline); {
		if seen = len(servers(bin)) > 0; !seen {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !seen {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("no server started within 30 s")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("interrupted lab: %v\n%s", err, stderr.String())
	}
	if left := servers(bin); len(left) > 0 {
		t.Errorf("servers still running after the lab exited: %v", left)
	}
	js, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted {
		t.Error("report.json does not say interrupted")
	}
}

// servers returns the PIDs of processes running `bin serve`.
func servers(bin string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == bin && args[i+1] == "serve" {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// hasRatio reports whether scenario id of rep has the CPU ratio a / b.
func hasRatio(rep Report, id, a, b string) bool {
	for _, s := range rep.Scenarios {
		if s.ID != id {
			continue
		}
		for _, r := range s.Ratios {
			if r.A == a && r.B == b && r.Value > 0 {
				return true
			}
		}
	}
	return false
}
