package lab

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sampleReport is a small report with every kind of row: measured with
// spread and seed, not installed, failed, and a placeholder scenario.
func sampleReport() *Report {
	curve := []Point{{0, 0.1}, {50, 0.2}, {90, 0.3}, {99, 0.9}, {99.9, 2}, {100, 3}}
	return &Report{
		Schema: Schema, Version: "dev", GoVersion: "go1.26.8", Command: "hotpath lab --quick",
		Date:     time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC),
		Settings: Settings{Quick: true, Rounds: 2, RunS: 1, Pinned: true, LoadCPU: 1, IdleConnections: 1000, Peers: "auto"},
		Machine:  Machine{CPUModel: "AMD EPYC", Cores: 2, Kernel: "Linux 6.18", MemoryMB: 24000},
		Peers:    map[string]string{"nginx": "nginx/1.22.1", "nodejs": "not installed (`apt-get install nodejs`)"},
		Scenarios: []Scenario{
			{ID: Servers, Title: "Servers", Rows: []Row{
				{Name: "hotpath-nethttp", Status: "ok", Metrics: map[string]float64{"rps": 30000, "cpu_us_per_req": 25, "p99_ms": 1.5, "startup_rss_mb": 19, "conn_kb": 19},
					Spread: map[string]Spread{"cpu_us_per_req": {24, 26}}, Seed: seedGo, Latency: curve},
				{Name: "nginx<&>", Status: "ok", Metrics: map[string]float64{"rps": 50000, "cpu_us_per_req": 11, "p99_ms": 1, "startup_rss_mb": 7.5, "conn_kb": 0.5}, Latency: curve},
				{Name: "nodejs", Status: "not installed (`apt-get install nodejs`)", Metrics: map[string]float64{}},
				{Name: "gunicorn-flask", Status: "failed: did not answer", Metrics: map[string]float64{}, Seed: seedWSGI},
			}, Ratios: []Ratio{{Name: "hotpath fasthttp / nginx", Value: 1.3, PerRoundMedian: 1.31, Target: "≤ 1.00"}}},
			placeholder(Chain, "Chain", []string{"1-layer"}, "waits for the ingest batch stage"),
		},
	}
}

func TestWriteHTML(t *testing.T) {
	r := sampleReport()
	r.Scenarios[0].Rows[0].Divergences = divergences(r.Scenarios[0].Rows[0])
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`<table class="results" id="table-servers">`, `<table class="results" id="table-chain">`,
		`id="ratios-servers"`, `id="chart-servers-cpu"`, `id="chart-servers-rss"`, `id="chart-servers-conn"`,
		`id="chart-servers-latency"`, "waits for the ingest batch stage", "not installed (`apt-get install nodejs`)",
		"nginx&lt;&amp;&gt;", "AMD EPYC", "hotpath lab --quick", "24.0–26.0",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, "nginx<&>") {
		t.Error("a row name reached the page unescaped")
	}
	for _, bad := range []string{"<script", "http://", "https://"} {
		if strings.Contains(page, bad) && !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
			t.Errorf("report.html is not self-contained: has %q", bad)
		}
	}
	if strings.Contains(page, "<script") || regexp.MustCompile(`(src|href)="https?:`).MatchString(page) {
		t.Error("report.html loads something from the network or runs a script")
	}
	// Each chart declares its data points and draws exactly that many.
	charts := map[string]int{"chart-servers-cpu": 2, "chart-servers-rss": 2, "chart-servers-conn": 2, "chart-servers-latency": 12}
	for id, n := range charts {
		m := regexp.MustCompile(`<svg class="chart" id="` + id + `" data-points="(\d+)"[^>]*>(.*?)</svg>`).FindStringSubmatch(page)
		if m == nil {
			t.Errorf("%s: no chart", id)
			continue
		}
		got, _ := strconv.Atoi(m[1])
		drawn := strings.Count(m[2], `class="bar"`) + strings.Count(m[2], `class="pt"`)
		if got != n || drawn != n {
			t.Errorf("%s: data-points %d, drawn %d, want %d", id, got, drawn, n)
		}
	}
	// Seed columns only where a row has a seed figure: rps has none.
	if !strings.Contains(page, "<th>req/s</th><th>CPU µs/request</th>") {
		t.Error("a seed column was drawn beside a metric no row has a seed for")
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"## servers — Servers", "## chain — Chain",
		"| row | status | req/s | CPU µs/request |",
		"| hotpath-nethttp | ok | 30000 | 25.0 (24.0–26.0) |",
		"[12.0]", "| nodejs | not installed (`apt-get install nodejs`) |",
		"hotpath fasthttp / nginx: **1.30×** (per round 1.31×), target ≤ 1.00",
		"| 1-layer | waits for the ingest batch stage |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q\n%s", want, md)
		}
	}
}

// TestReportJSON holds report.json to the schema docs/lab.md documents.
func TestReportJSON(t *testing.T) {
	js, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(js); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(js), `"cpu_us_per_req":25`, `"cpu_us_per_req":0`, 1)
	if err := ValidateJSON([]byte(bad)); err == nil {
		t.Fatal("an ok row with a zero CPU figure validated")
	}
	bad = strings.Replace(string(js), `"machine":`, `"machinery":`, 1)
	if err := ValidateJSON([]byte(bad)); err == nil {
		t.Fatal("a report without machine validated")
	}
}

func TestDivergences(t *testing.T) {
	r := Row{Status: "ok", Metrics: map[string]float64{"p99_ms": 1.3, "startup_rss_mb": 30, "gc_per_min": 0},
		Seed: map[string]float64{"p99_ms": 1.2, "startup_rss_mb": 12, "gc_per_min": 0, "ab_rps": 8000}}
	d := divergences(r)
	if len(d) != 1 || !strings.HasPrefix(d[0], "start-up RSS MB: 30.0 against the seed's 12.0 (higher).") {
		t.Fatalf("divergences = %q; want one, for the start-up RSS (P99 within 25 %%, GC equal, ab not measured)", d)
	}
}

func TestFmtNum(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{{0, "0"}, {0.25, "0.25"}, {0.1234, "0.123"}, {1.5, "1.50"}, {12.34, "12.3"}, {123.4, "123"}, {12345.6, "12346"}} {
		if got := fmtNum(tt.in); got != tt.want {
			t.Errorf("fmtNum(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
