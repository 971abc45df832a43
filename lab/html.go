package lab

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
)

// barChart draws one horizontal bar per row that has metric key, with a
// whisker for the rounds' min–max. Every bar is a <rect class="bar"> with
// data-row and data-value, so a test can count the data points.
func barChart(id, title, key string, rows []Row) template.HTML {
	type bar struct {
		name    string
		v, a, b float64
	}
	var bars []bar
	maxV := 0.0
	for _, r := range rows {
		v, ok := r.Metrics[key]
		if !ok || !r.OK() {
			continue
		}
		sp, has := r.Spread[key]
		if !has {
			sp = Spread{v, v}
		}
		bars = append(bars, bar{r.Name, v, sp.Min, sp.Max})
		maxV = math.Max(maxV, math.Max(v, sp.Max))
	}
	if len(bars) == 0 || maxV <= 0 {
		return template.HTML(fmt.Sprintf(`<p class="nochart" id="%s">%s: no data.</p>`, id, html.EscapeString(title)))
	}
	const left, width, barH, gap, top = 150, 460, 18, 6, 28
	h := top + len(bars)*(barH+gap) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" data-points="%d" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`,
		id, len(bars), left+width+90, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="16" class="title">%s</text>`, html.EscapeString(title))
	for i, br := range bars {
		y := top + i*(barH+gap)
		w := br.v / maxV * width
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="label" text-anchor="end">%s</text>`, left-6, y+13, html.EscapeString(br.name))
		fmt.Fprintf(&b, `<rect class="bar" data-row="%s" data-value="%g" x="%d" y="%d" width="%.1f" height="%d"/>`,
			html.EscapeString(br.name), br.v, left, y, math.Max(w, 1), barH)
		if br.a != br.b {
			x1, x2 := left+br.a/maxV*width, left+br.b/maxV*width
			fmt.Fprintf(&b, `<line class="whisker" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x1, x2, y+barH/2, y+barH/2)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="value">%s</text>`, float64(left)+math.Max(w, 1)+math.Max(0, (br.b-br.v)/maxV*width)+4, y+13, fmtNum(br.v))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// latencyChart draws each row's latency percentile curve, HDR style: x is
// the percentile on a 1/(1−p) log scale (50 %, 90 %, 99 %, …), y the latency
// on a log scale. Every point is a <circle class="pt">.
func latencyChart(id, title string, rows []Row) template.HTML {
	var series []Row
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		if !r.OK() || len(r.Latency) == 0 {
			continue
		}
		series = append(series, r)
		for _, p := range r.Latency {
			ms := math.Max(p.Ms, 0.001)
			minY, maxY = math.Min(minY, ms), math.Max(maxY, ms)
		}
	}
	if len(series) == 0 {
		return template.HTML(fmt.Sprintf(`<p class="nochart" id="%s">%s: no data.</p>`, id, html.EscapeString(title)))
	}
	const left, top, width, height = 60, 30, 520, 260
	const maxX = 5.0 // 99.999 %
	ly0, ly1 := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
	if ly1 == ly0 {
		ly1++
	}
	xOf := func(p float64) float64 {
		if p >= 100 {
			p = 99.999
		}
		return left + math.Min(math.Log10(100/(100-p)), maxX)/maxX*width
	}
	yOf := func(ms float64) float64 {
		return top + height - (math.Log10(math.Max(ms, 0.001))-ly0)/(ly1-ly0)*height
	}
	points := 0
	for _, r := range series {
		points += len(r.Latency)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" data-points="%d" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`,
		id, points, left+width+170, top+height+40, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="16" class="title">%s</text>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<rect class="frame" x="%d" y="%d" width="%d" height="%d"/>`, left, top, width, height)
	for i, lbl := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		x := left + float64(i)/maxX*width
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/><text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>`,
			x, x, top, top+height, x, top+height+14, lbl)
	}
	for e := ly0; e <= ly1; e++ {
		y := yOf(math.Pow(10, e))
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text x="%d" y="%.1f" class="axis" text-anchor="end">%s ms</text>`,
			left, left+width, y, y, left-4, y+4, fmtNum(math.Pow(10, e)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="middle">percentile</text>`, left+width/2, top+height+32)
	for i, r := range series {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range r.Latency {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.Percentile), yOf(p.Ms)))
		}
		fmt.Fprintf(&b, `<polyline class="curve" data-row="%s" fill="none" stroke="%s" points="%s"/>`, html.EscapeString(r.Name), color, strings.Join(pts, " "))
		for _, p := range r.Latency {
			fmt.Fprintf(&b, `<circle class="pt" data-row="%s" data-p="%g" data-ms="%g" cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s P%g: %s ms</title></circle>`,
				html.EscapeString(r.Name), p.Percentile, p.Ms, xOf(p.Percentile), yOf(p.Ms), color, html.EscapeString(r.Name), p.Percentile, fmtNum(p.Ms))
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" class="label">%s</text>`,
			left+width+12, top+i*16, color, left+width+26, top+i*16+9, html.EscapeString(r.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// htmlScenario is a scenario prepared for the page.
type htmlLabel struct {
	Label   string
	HasSeed bool
}

type htmlScenario struct {
	Scenario
	Cols   []string
	Labels []htmlLabel
	Cells  [][]htmlCell
	Charts []template.HTML
}

type htmlCell struct {
	Ours, Seed string
	HasSeed    bool // the column has a seed figure in some row
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hotpath lab report {{.R.Date.Format "2006-01-02"}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th:first-child,td:first-child,td.status{text-align:left}td.seed{color:#666}td.status.bad{color:#a00}
.chart{display:block;margin:1em 0}.chart .title{font-weight:bold;font-size:13px}.chart .label,.chart .value,.chart .axis{font-size:11px}
.bar{fill:#4a7ab7}.whisker{stroke:#111;stroke-width:1.5}.frame{fill:none;stroke:#999}.grid{stroke:#eee}.curve{stroke-width:1.5}
code{background:#f3f3f3;padding:0 3px}
</style></head><body>
<h1>hotpath lab report</h1>
<ul id="context">
<li>Date: {{.R.Date.Format "2006-01-02 15:04 UTC"}}; the run took {{printf "%.0f" .R.DurationS}} s{{if .R.Interrupted}} (interrupted){{end}}</li>
<li>Command: <code>{{.R.Command}}</code></li>
<li>hotpath {{.R.Version}}, {{.R.GoVersion}}</li>
<li>Machine: {{.R.Machine.CPUModel}}, {{.R.Machine.Cores}} cores, {{printf "%.0f" .R.Machine.MemoryMB}} MB, {{.R.Machine.Kernel}}; load average {{.R.Machine.LoadAvgStart}} at start, {{.R.Machine.LoadAvgEnd}} at end</li>
<li>Settings: {{.R.Settings.Rounds}} rounds of {{.R.Settings.RunS}} s, pinned {{.R.Settings.Pinned}} (server CPU {{.R.Settings.ServerCPU}}, load CPU {{.R.Settings.LoadCPU}}), {{.R.Settings.IdleConnections}} idle connections</li>
{{with .R.Settings.Servers}}<li id="servers-filter">Servers rows (--servers): {{range $i, $n := .}}{{if $i}}, {{end}}{{$n}}{{end}}</li>{{end}}
{{with .R.Settings.Base}}<li id="base">Base binary (--base, rows base-…): <code>{{.Path}}</code>, {{.Version}}</li>{{end}}{{with .R.Settings.BaseArgs}}<li id="base-args">Base rows' extra serve arguments (--base-args): <code>{{range $i, $a := .}}{{if $i}} {{end}}{{$a}}{{end}}</code></li>{{end}}
<li>Peers: {{range $k, $v := .R.Peers}}{{$k}}: {{$v}}; {{end}}</li>
</ul>
<p>Figures are medians over rounds with the rounds' min–max beside them (the noise); the seed's figure, where it states one, is in its own column.</p>
{{range $s := .S}}
<section class="scenario" id="scenario-{{.ID}}">
<h2>{{.ID}} — {{.Title}}</h2>
{{if .Method}}<p class="method">{{.Method}}</p>{{end}}
<table class="results" id="table-{{.ID}}">
<thead><tr><th>row</th><th>status</th>{{range .Labels}}<th>{{.Label}}</th>{{if .HasSeed}}<th class="seed">seed</th>{{end}}{{end}}</tr></thead>
<tbody>{{range $i, $row := .Rows}}<tr data-row="{{$row.Name}}"><td>{{$row.Name}}</td><td class="status{{if not $row.OK}} bad{{end}}">{{$row.Status}}</td>{{range index $s.Cells $i}}<td>{{.Ours}}</td>{{if .HasSeed}}<td class="seed">{{.Seed}}</td>{{end}}{{end}}</tr>
{{end}}</tbody></table>
{{if .Ratios}}<table class="ratios" id="ratios-{{.ID}}"><thead><tr><th>CPU per request</th><th>ratio of medians</th><th>per-round median</th><th>target</th><th>seed</th></tr></thead><tbody>
{{range .Ratios}}<tr><td>{{.Name}}</td><td>{{printf "%.2f" .Value}}×</td><td>{{printf "%.2f" .PerRoundMedian}}×</td><td>{{.Target}}</td><td>{{if .Seed}}≈ {{printf "%.2f" .Seed}}× (“~40 % less CPU”){{end}}</td></tr>
{{end}}</tbody></table>{{end}}
{{range .Charts}}{{.}}{{end}}
{{range .Rows}}{{if .Divergences}}<p class="divergence"><b>{{.Name}}</b> differs from the seed:</p><ul>{{range .Divergences}}<li>{{.}}</li>{{end}}</ul>{{end}}{{if .Notes}}<p class="notes"><b>{{.Name}}</b> notes:</p><ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}{{end}}
</section>
{{end}}
</body></html>
`))

// WriteHTML writes the report as one self-contained HTML page: no script,
// no network, charts as inline SVG.
func (r *Report) WriteHTML(w io.Writer) error {
	var ss []htmlScenario
	for _, s := range r.Scenarios {
		hs := htmlScenario{Scenario: s, Cols: columns(s)}
		seeded := map[string]bool{}
		for _, row := range s.Rows {
			for k := range row.Seed {
				seeded[k] = true
			}
		}
		for _, c := range hs.Cols {
			hs.Labels = append(hs.Labels, htmlLabel{metricLabel(c), seeded[c]})
		}
		for _, row := range s.Rows {
			var cells []htmlCell
			for _, c := range hs.Cols {
				o, sd := cell(row, c)
				cells = append(cells, htmlCell{o, sd, seeded[c]})
			}
			hs.Cells = append(hs.Cells, cells)
		}
		switch s.ID {
		case Servers:
			hs.Charts = []template.HTML{
				barChart("chart-servers-cpu", "Server CPU µs per request at saturation (lower is better)", "cpu_us_per_req", s.Rows),
				barChart("chart-servers-rss", "Start-up RSS, MB", "startup_rss_mb", s.Rows),
				barChart("chart-servers-conn", "Memory per idle keep-alive connection, KB", "conn_kb", s.Rows),
				latencyChart("chart-servers-latency", "Latency by percentile at the fixed open-loop rate (log scales)", s.Rows),
			}
		case Gateway:
			hs.Charts = []template.HTML{
				barChart("chart-gateway-cpu", "Server CPU µs per request (all the row's processes)", "cpu_us_per_req", s.Rows),
				barChart("chart-gateway-alloc", "Allocated KB per request", "alloc_kb_per_req", s.Rows),
				latencyChart("chart-gateway-latency", "Latency by percentile, closed loop, 50 in flight (log scales)", s.Rows),
			}
		case GC:
			hs.Charts = []template.HTML{
				barChart("chart-gc-allocs", "Allocations per request", "allocs_per_req", s.Rows),
				barChart("chart-gc-pause", "GC pause P99, ms", "gc_pause_p99_ms", s.Rows),
				latencyChart("chart-gc-latency", "Latency by percentile, closed loop at high concurrency (log scales)", s.Rows),
			}
		}
		ss = append(ss, hs)
	}
	return page.Execute(w, struct {
		R *Report
		S []htmlScenario
	}{r, ss})
}
