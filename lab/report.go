package lab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Schema is the value of report.json's "schema" field (docs/lab.md).
const Schema = "hotpath.lab/v1"

// Report is one lab run: what report.json holds. docs/lab.md documents
// every field.
type Report struct {
	Schema      string            `json:"schema"`
	Version     string            `json:"hotpath_version"`
	GoVersion   string            `json:"go_version"`
	Command     string            `json:"command"`
	Date        time.Time         `json:"date"`
	DurationS   float64           `json:"duration_s"`
	Interrupted bool              `json:"interrupted,omitempty"`
	Settings    Settings          `json:"settings"`
	Machine     Machine           `json:"machine"`
	Peers       map[string]string `json:"peers"`
	Scenarios   []Scenario        `json:"scenarios"`
}

// Settings are the run's parameters.
type Settings struct {
	Quick           bool    `json:"quick"`
	Rounds          int     `json:"rounds"`
	RunS            float64 `json:"run_s"`
	Pinned          bool    `json:"pinned"`
	ServerCPU       int     `json:"server_cpu"`
	LoadCPU         int     `json:"load_cpu"`
	IdleConnections int     `json:"idle_connections"`
	Peers           string  `json:"peers"`
	// Servers is Config.Servers: the servers scenario's rows it selected
	// (absent: all).
	Servers []string `json:"servers,omitempty"`
	// Base is the --base binary of an A/B run (absent without one).
	Base *BaseBuild `json:"base,omitempty"`
	// BaseArgs are the arguments appended to the base rows' serve command
	// (--base-args; absent without them).
	BaseArgs []string `json:"base_args,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUModel     string  `json:"cpu_model"`
	Cores        int     `json:"cores"`
	Kernel       string  `json:"kernel"`
	MemoryMB     float64 `json:"memory_mb"`
	OS           string  `json:"os"`
	LoadAvgStart string  `json:"load_avg_start"`
	LoadAvgEnd   string  `json:"load_avg_end"`
}

// Scenario is one experiment: a table of rows.
type Scenario struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Method string `json:"method,omitempty"`
	// ElapsedS is the scenario's wall-clock time in seconds.
	ElapsedS float64  `json:"elapsed_s,omitempty"`
	Rows     []Row    `json:"rows"`
	Ratios   []Ratio  `json:"ratios,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// Row is one contender. Status is "ok", "not installed (…)", "failed: …",
// "not built yet" or "waits for …"; Metrics holds only what was measured
// (medians over rounds), Spread the min–max of the rounds behind a median,
// Seed the seed's figure for the same key, Divergences one sentence per seed
// figure ours differs from.
type Row struct {
	Name        string               `json:"name"`
	Status      string               `json:"status"`
	Server      string               `json:"server,omitempty"`
	Metrics     map[string]float64   `json:"metrics"`
	Spread      map[string]Spread    `json:"spread,omitempty"`
	Rounds      map[string][]float64 `json:"rounds,omitempty"`
	Seed        map[string]float64   `json:"seed,omitempty"`
	Divergences []string             `json:"divergences,omitempty"`
	Notes       []string             `json:"notes,omitempty"`
	Latency     []Point              `json:"latency_percentiles,omitempty"`
}

// Point is one point of a latency percentile curve.
type Point struct {
	Percentile float64 `json:"p"`
	Ms         float64 `json:"ms"`
}

// OK reports whether the row was measured.
func (r Row) OK() bool { return r.Status == "ok" }

func newReport(c Config, l *lab) *Report {
	r := &Report{
		Schema: Schema, Version: c.Version, GoVersion: runtime.Version(), Command: c.Command,
		Date: time.Now().UTC().Truncate(time.Second), Machine: machine(),
		Peers: map[string]string{},
		Settings: Settings{Quick: c.Quick, Rounds: c.Rounds, RunS: c.Duration.Seconds(), Pinned: l.pinned,
			ServerCPU: -1, LoadCPU: -1, IdleConnections: l.conns, Peers: c.Peers, Servers: c.Servers},
	}
	if l.pinned {
		r.Settings.ServerCPU, r.Settings.LoadCPU = serverCPU, loadCPU
	}
	for n, v := range l.peers.versions {
		r.Peers[n] = v
	}
	for n, why := range l.peers.missing {
		r.Peers[n] = why
	}
	return r
}

func (r *Report) finish(d time.Duration) {
	r.DurationS = round(d.Seconds(), 1)
	r.Machine.LoadAvgEnd = loadAvg()
}

// machine reads the machine's description from /proc and uname.
func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadAvgStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.MemoryMB = round(kb/1024, 0)
			}
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = utsString(u.Sysname[:]) + " " + utsString(u.Release[:])
	}
	return m
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// round rounds f to d decimals.
func round(f float64, d int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', d, 64), 64)
	return v
}

// WriteFiles writes report.json, report.md and report.html into dir (which
// must exist) and returns their paths.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("lab: report.json: %w", err)
	}
	var md, html bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		return nil, err
	}
	if err := r.WriteHTML(&html); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range []struct {
		name string
		data []byte
	}{{"report.json", append(js, '\n')}, {"report.md", md.Bytes()}, {"report.html", html.Bytes()}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return paths, fmt.Errorf("lab: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
