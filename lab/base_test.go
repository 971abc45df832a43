package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeVersion is what the fake binaries print for `version`: the format
// `hotpath version` has had since the first commit.
const fakeVersion = "hotpath v0.1.0 (revision 0123456789ab, go1.22.0 linux/amd64)"

// writeScript writes an executable shell script into dir and returns its
// path.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// oldBinary is a fake older hotpath: it knows `version`, and its serve
// rejects a flag the lab passes, as a binary from before that flag would.
func oldBinary(t *testing.T, dir string) string {
	return writeScript(t, dir, "hotpath-old", `case "$1" in
version) echo "`+fakeVersion+`";;
serve) echo "Error: unknown flag: --max-connections" >&2; exit 2;;
*) echo "unexpected $*" >&2; exit 2;;
esac
`)
}

// TestValidateBaseAndServers: every way --base and --servers can be wrong
// is one line wrapping ErrConfig that names the flag; the good forms pass.
func TestValidateBaseAndServers(t *testing.T) {
	dir := t.TempDir()
	good := oldBinary(t, dir)
	notExec := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho "+fakeVersion+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failing := writeScript(t, dir, "failing", "echo 'unknown command \"version\"' >&2; exit 1\n")
	other := writeScript(t, dir, "other", "echo 'Python 3.11.2'\n")
	silent := writeScript(t, dir, "silent", "exit 0\n")
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // nil: valid
	}{
		{"base", func(c *Config) { c.Base = good }, nil},
		{"base with servers and a hotpath row", func(c *Config) {
			c.Base, c.Servers = good, []string{"nethttp-hardened", "hotpath-nbio"}
		}, nil},
		{"servers", func(c *Config) { c.Servers = []string{"nginx", "nethttp"} }, nil},
		{"servers with --only servers", func(c *Config) { c.Servers, c.Only = []string{"nginx"}, []string{Servers, GC} }, nil},
		{"unknown server row, known ones listed", func(c *Config) { c.Servers = []string{"nethttp", "apache"} },
			[]string{"--servers", `"apache"`, strings.Join(ServerNames(), ", ")}},
		{"a base row is not selectable: it follows its pair", func(c *Config) { c.Servers = []string{"base-hotpath-nethttp"} },
			[]string{"--servers", `"base-hotpath-nethttp"`}},
		{"servers without the servers scenario", func(c *Config) { c.Servers, c.Only = []string{"nginx"}, []string{GC} },
			[]string{"--servers", "--only gc"}},
		{"base without the servers scenario", func(c *Config) { c.Base, c.Only = good, []string{GC, Chain} },
			[]string{"--base", "--only gc,chain"}},
		{"base with no hotpath row to compare", func(c *Config) { c.Base, c.Servers = good, []string{"nethttp", "nginx"} },
			[]string{"--base", "no hotpath-<engine> row"}},
		{"base missing", func(c *Config) { c.Base = filepath.Join(dir, "nope") }, []string{"--base " + filepath.Join(dir, "nope"), "no such file"}},
		{"base is a directory", func(c *Config) { c.Base = dir }, []string{"--base " + dir, "not a regular file"}},
		{"base not executable", func(c *Config) { c.Base = notExec }, []string{"--base " + notExec, "not executable"}},
		{"base version fails: its message", func(c *Config) { c.Base = failing }, []string{"--base " + failing, "`version` failed", `unknown command "version"`}},
		{"base is not hotpath", func(c *Config) { c.Base = other }, []string{"--base " + other, "not a hotpath binary", "Python 3.11.2"}},
		{"base prints nothing", func(c *Config) { c.Base = silent }, []string{"--base " + silent, "not a hotpath binary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Binary: "/bin/hotpath"}
			tt.mod(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line wrapping ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
	v, err := Config{Binary: "/bin/hotpath", Base: good}.validate()
	if err != nil || v != fakeVersion {
		t.Fatalf("validate: version line %q, %v; want %q", v, err, fakeVersion)
	}
}

func names(cs []contender) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// TestServerRows: --servers keeps the selected rows in the scenario's own
// order, and --base puts each hotpath row's base row right after it.
func TestServerRows(t *testing.T) {
	all := ServerNames()
	withBase := slices.Clone(all)
	for _, e := range []string{"nbio", "fasthttp", "nethttp"} {
		i := slices.Index(withBase, "hotpath-"+e)
		withBase = slices.Insert(withBase, i+1, "base-hotpath-"+e)
	}
	tests := []struct {
		name    string
		servers []string
		base    string
		want    []string
	}{
		{"all rows", nil, "", all},
		{"all rows with a base: one base row after each hotpath row", nil, "/b", withBase},
		{"a subset, listed out of order, keeps the scenario's order", []string{"nethttp-hardened", "hotpath-nethttp"}, "",
			[]string{"hotpath-nethttp", "nethttp-hardened"}},
		{"a subset with a base", []string{"nethttp-hardened", "hotpath-nethttp"}, "/b",
			[]string{"hotpath-nethttp", "base-hotpath-nethttp", "nethttp-hardened"}},
		{"no base row for a bare row", []string{"fasthttp", "hotpath-fasthttp", "nbio"}, "/b",
			[]string{"hotpath-fasthttp", "base-hotpath-fasthttp", "fasthttp", "nbio"}},
		{"a peer only", []string{"nginx"}, "", []string{"nginx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &lab{cfg: Config{Servers: tt.servers, Base: tt.base}}
			if got := names(l.serverRows()); !slices.Equal(got, tt.want) {
				t.Fatalf("rows %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBaseSpec: a base row starts the base binary with exactly the
// arguments, directory and environment of its pair.
func TestBaseSpec(t *testing.T) {
	l := &lab{cfg: Config{Binary: "/new/hotpath", Base: "/old/hotpath"}, tmp: "/scratch", conns: 1000}
	for _, e := range hotpathEngines {
		cur, base := hotpathServe(e)(l), baseContender(e).Spec(l)
		a, b := cur.Argv(1001, 1002), base.Argv(1001, 1002)
		if a[0] != "/new/hotpath" || b[0] != "/old/hotpath" || !slices.Equal(a[1:], b[1:]) {
			t.Errorf("%s: argv %q and base %q, want the same arguments from each binary", e, a, b)
		}
		if base.Name != "base-hotpath-"+e || base.Dir != cur.Dir || base.Admin != cur.Admin || !slices.Equal(base.Env, cur.Env) {
			t.Errorf("%s: base spec %+v differs from %+v", e, base, cur)
		}
	}
	// --base-args go to the base rows only, after the common arguments.
	l.cfg.BaseArgs = []string{"--grpc=false", "--ingest-sink", "off"}
	cur, base := hotpathServe("nethttp")(l).Argv(1, 2), baseContender("nethttp").Spec(l).Argv(1, 2)
	if want := append(slices.Clone(cur[1:]), l.cfg.BaseArgs...); !slices.Equal(base[1:], want) || slices.Contains(cur, "--grpc=false") {
		t.Errorf("with --base-args: argv %q and base %q", cur, base)
	}
}

// TestServerSteps: the progress total counts the rows --servers and --base
// produce, and only the peers that are installed.
func TestServerSteps(t *testing.T) {
	none := func(string) (string, error) { return "", errors.New("no") }
	tests := []struct {
		name    string
		cfg     Config
		want    int
		comment string
	}{
		{"3 rows, quick, 2 rounds", Config{Quick: true, Rounds: 2, Servers: []string{"hotpath-nethttp", "nethttp-hardened"}, Base: "/b"}, 3 * (2 + 1), "phase 2 runs once with --quick"},
		{"3 rows, full, 3 rounds", Config{Rounds: 3, Servers: []string{"hotpath-nethttp", "nethttp-hardened"}, Base: "/b"}, 3 * (3 + 3), ""},
		{"all Go rows, with a base", Config{Rounds: 1, Base: "/b"}, (8 + 3) * 2, "the peers are not installed"},
		{"a missing peer counts nothing", Config{Rounds: 1, Servers: []string{"nginx", "nbio"}}, 1 * 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &lab{cfg: tt.cfg, peers: discoverPeers(context.Background(), "auto", none)}
			if got := l.steps(Servers); got != tt.want {
				t.Fatalf("steps = %d, want %d (%s)", got, tt.want, tt.comment)
			}
		})
	}
}

// TestBaseRatios: each hotpath row measured beside its base row gives
// "hotpath-<engine> / base"; a ratio whose row is absent is not computed.
func TestBaseRatios(t *testing.T) {
	mk := func(name string, cpu map[int]float64) *rowData {
		return &rowData{c: contender{Name: name}, vals: map[string]map[int]float64{"cpu_us_per_req": cpu}}
	}
	rows := map[string]*rowData{
		"hotpath-nethttp":       mk("hotpath-nethttp", map[int]float64{1: 20, 2: 30}),
		"base-hotpath-nethttp":  mk("base-hotpath-nethttp", map[int]float64{1: 10, 2: 20}),
		"hotpath-fasthttp":      mk("hotpath-fasthttp", map[int]float64{1: 10}),
		"base-hotpath-fasthttp": {c: contender{Name: "base-hotpath-fasthttp"}, status: "failed: saturation round 1: unknown flag"},
		"hotpath-nbio":          mk("hotpath-nbio", map[int]float64{1: 10}), // no base row: --servers left it out
	}
	var got []string
	byName := map[string]Ratio{}
	for _, r := range serverRatios(rows) {
		got = append(got, r.Name)
		byName[r.Name] = r
	}
	if !slices.Equal(got, []string{"hotpath-nethttp / base"}) {
		t.Fatalf("ratios %q, want only hotpath-nethttp / base (the others' rows are absent or failed)", got)
	}
	r := byName["hotpath-nethttp / base"]
	// Medians 25 / 15; per round 2 and 1.5, median 1.75.
	if r.A != "hotpath-nethttp" || r.B != "base-hotpath-nethttp" || math.Abs(r.Value-1.667) > 1e-9 || math.Abs(r.PerRoundMedian-1.75) > 1e-9 {
		t.Fatalf("ratio %+v, want 1.667 (per round 1.75)", r)
	}
}

// TestOldBaseFails: a base binary whose serve lacks a flag the lab passes
// (an old revision) fails its row with that binary's own message, in every
// phase, while the rows around it run in the interleaved order: pair, its
// base, the others, round after round. No real server is started: the
// fakes log each start and exit.
func TestOldBaseFails(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "starts.log")
	// The current binary's fake: logs "new <args>" and fails its own way.
	cur := writeScript(t, dir, "hotpath-new", `echo "new $1 $2 $3" >> `+log+`
echo "new: no server in this test" >&2; exit 1
`)
	old := writeScript(t, dir, "hotpath-old", `echo "old $1 $2 $3" >> `+log+`
echo "Error: unknown flag: --max-connections" >&2; exit 2
`)
	l := &lab{cfg: Config{Binary: cur, Base: old, Rounds: 2, Quick: true, Servers: []string{"nethttp-hardened", "hotpath-nethttp"}},
		tmp: dir, conns: 10, prog: newProgress(nil), peers: discoverPeers(context.Background(), "none", execLookPath)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := l.runServers(ctx)

	var rows []string
	status := map[string]string{}
	for _, r := range sc.Rows {
		rows = append(rows, r.Name)
		status[r.Name] = r.Status
	}
	if want := []string{"hotpath-nethttp", "base-hotpath-nethttp", "nethttp-hardened"}; !slices.Equal(rows, want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	if want := "failed: saturation round 1: base-hotpath-nethttp exited before answering: Error: unknown flag: --max-connections"; status["base-hotpath-nethttp"] != want {
		t.Errorf("base row status %q, want %q", status["base-hotpath-nethttp"], want)
	}
	if s := status["hotpath-nethttp"]; !strings.Contains(s, "new: no server in this test") {
		t.Errorf("hotpath row status %q, want its own binary's message", s)
	}
	if len(sc.Ratios) != 0 {
		t.Errorf("ratios %+v from failed rows", sc.Ratios)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	// launch tries twice; 2 saturation rounds, then 1 quiet round (quick).
	var want []string
	for range 2 + 1 {
		for _, s := range []string{"new serve --engine nethttp", "old serve --engine nethttp", "new lab-server nethttp-hardened --addr"} {
			want = append(want, s, s)
		}
	}
	if got := strings.Split(strings.TrimSpace(string(b)), "\n"); !slices.Equal(got, want) {
		t.Fatalf("starts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestReportBase: report.json, report.md and report.html record the base
// binary and the --servers filter, and ValidateJSON checks their shape.
func TestReportBase(t *testing.T) {
	r := sampleReport()
	r.Settings.Base = &BaseBuild{Path: "/tmp/hotpath-base", Version: fakeVersion}
	r.Settings.Servers = []string{"hotpath-nethttp", "nginx"}
	r.Settings.BaseArgs = []string{"--grpc=false"}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(js); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"base":{"path":"/tmp/hotpath-base","version":"`+fakeVersion+`"}`)) ||
		!bytes.Contains(js, []byte(`"servers":["hotpath-nethttp","nginx"]`)) {
		t.Fatalf("report.json settings: %s", js)
	}
	for _, tt := range []struct{ name, from, to string }{
		{"base without version", `,"version":"` + fakeVersion + `"`, ``},
		{"base not an object", `"base":{"path":"/tmp/hotpath-base","version":"` + fakeVersion + `"}`, `"base":"/tmp/hotpath-base"`},
		{"servers not a list", `"servers":["hotpath-nethttp","nginx"]`, `"servers":"nginx"`},
		{"servers with an empty name", `"servers":["hotpath-nethttp","nginx"]`, `"servers":[""]`},
		{"base_args not a list", `"base_args":["--grpc=false"]`, `"base_args":"--grpc=false"`},
		{"base_args without base", `"base":{"path":"/tmp/hotpath-base","version":"` + fakeVersion + `"},`, ``},
	} {
		bad := strings.Replace(string(js), tt.from, tt.to, 1)
		if bad == string(js) {
			t.Fatalf("%s: the replacement did not apply", tt.name)
		}
		if err := ValidateJSON([]byte(bad)); err == nil || !strings.Contains(err.Error(), "settings.") {
			t.Errorf("%s: ValidateJSON = %v, want an error naming settings", tt.name, err)
		}
	}
	var md, page bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/tmp/hotpath-base", fakeVersion, "hotpath-nethttp, nginx", "--base-args", "--grpc=false"} {
		if !strings.Contains(md.String(), want) || !strings.Contains(page.String(), want) {
			t.Errorf("report.md or report.html lacks %q", want)
		}
	}
	// Without them, neither line.
	md.Reset()
	if err := sampleReport().WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(md.String(), "--base") || strings.Contains(md.String(), "--servers") {
		t.Error("report.md mentions --base or --servers for a run without them")
	}
}

// labRun runs the lab binary with args into a fresh report directory and
// returns the parsed, validated report.json and report.md.
func labRun(t *testing.T, bin string, args ...string) (Report, string) {
	t.Helper()
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"lab"}, args...), "--out", out)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("hotpath lab %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("hotpath lab %s took %v", strings.Join(args, " "), time.Since(start).Round(time.Second))
	js, err := os.ReadFile(filepath.Join(out, "report.json"))
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
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	return rep, string(md)
}

// TestE2EBase runs an A/B on the real binary, with the binary itself as its
// base, on three rows; and one against a fake old binary whose serve lacks
// a flag: what the user sees is that binary's own message in the row.
func TestE2EBase(t *testing.T) {
	bin := hotpathBinary(t)
	t.Run("same binary", func(t *testing.T) {
		rep, md := labRun(t, bin, "--quick", "--only", "servers", "--servers", "hotpath-nethttp,nethttp-hardened",
			"--base", bin, "--rounds", "1", "--peers", "none")
		if len(rep.Scenarios) != 1 || rep.Scenarios[0].ID != Servers {
			t.Fatalf("scenarios %+v, want servers only", rep.Scenarios)
		}
		sc := rep.Scenarios[0]
		var rows []string
		for _, r := range sc.Rows {
			rows = append(rows, r.Name)
			if !r.OK() || r.Metrics["cpu_us_per_req"] <= 0 || r.Metrics["rps"] <= 0 {
				t.Errorf("%s: %q %v, want ok with figures", r.Name, r.Status, r.Metrics)
			}
		}
		if want := []string{"hotpath-nethttp", "base-hotpath-nethttp", "nethttp-hardened"}; !slices.Equal(rows, want) {
			t.Fatalf("rows %v, want %v", rows, want)
		}
		var found bool
		for _, q := range sc.Ratios {
			if q.Name == "hotpath-nethttp / base" {
				found = true
				// Not near 1: the machine is noisy; only that it was computed.
				if q.Value <= 0 || q.PerRoundMedian <= 0 || q.A != "hotpath-nethttp" || q.B != "base-hotpath-nethttp" {
					t.Errorf("ratio %+v, want > 0 between the pair", q)
				}
			}
		}
		if !found {
			t.Errorf("no ratio hotpath-nethttp / base in %+v", sc.Ratios)
		}
		if b := rep.Settings.Base; b == nil || b.Path != bin || !strings.HasPrefix(b.Version, "hotpath ") {
			t.Errorf("settings.base = %+v, want %s and its version line", b, bin)
		}
		if !slices.Equal(rep.Settings.Servers, []string{"hotpath-nethttp", "nethttp-hardened"}) {
			t.Errorf("settings.servers = %v", rep.Settings.Servers)
		}
		if !strings.Contains(md, "hotpath-nethttp / base: **") {
			t.Error("report.md lacks the A/B ratio")
		}
	})
	t.Run("old binary", func(t *testing.T) {
		old := oldBinary(t, t.TempDir())
		rep, md := labRun(t, bin, "--quick", "--only", "servers", "--servers", "hotpath-nethttp",
			"--base", old, "--rounds", "1", "--peers", "none")
		sc := rep.Scenarios[0]
		if len(sc.Rows) != 2 || !sc.Rows[0].OK() {
			t.Fatalf("rows %+v, want hotpath-nethttp ok and its base row", sc.Rows)
		}
		const want = "failed: saturation round 1: base-hotpath-nethttp exited before answering: Error: unknown flag: --max-connections"
		if r := sc.Rows[1]; r.Name != "base-hotpath-nethttp" || r.Status != want {
			t.Errorf("base row %s: %q, want %q", r.Name, r.Status, want)
		}
		if !strings.Contains(md, "| base-hotpath-nethttp | "+want+" |") {
			t.Errorf("report.md does not show the base row's failure:\n%s", md)
		}
		if len(sc.Ratios) != 0 {
			t.Errorf("ratios %+v against a failed base row", sc.Ratios)
		}
		if rep.Settings.Base == nil || rep.Settings.Base.Version != fakeVersion {
			t.Errorf("settings.base = %+v", rep.Settings.Base)
		}
	})
}

func TestParseVersion(t *testing.T) {
	for _, tt := range []struct {
		out, line string
		ok        bool
	}{
		{fakeVersion + "\n", fakeVersion, true},
		{"hotpath dev (revision unknown: built without VCS stamping, go1.26.8 linux/amd64)\n", "hotpath dev (revision unknown: built without VCS stamping, go1.26.8 linux/amd64)", true},
		{"  " + fakeVersion + "  \r\nmore\n", fakeVersion, true},
		{"", "", false},
		{"hotpath\n", "hotpath", false},
		{"nothotpath v1 (revision x)\n", "nothotpath v1 (revision x)", false},
		{"\n" + fakeVersion, "", false}, // the version line comes first
	} {
		line, ok := parseVersion(tt.out)
		if line != tt.line || ok != tt.ok {
			t.Errorf("parseVersion(%q) = %q, %v; want %q, %v", tt.out, line, ok, tt.line, tt.ok)
		}
	}
}

func FuzzParseVersion(f *testing.F) {
	f.Add(fakeVersion + "\n")
	f.Add("hotpath dev (revision unknown: built without VCS stamping, go1.26.8 linux/amd64)\n")
	f.Add("Python 3.11.2\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		line, ok := parseVersion(out)
		if strings.ContainsAny(line, "\n") {
			t.Fatalf("line %q spans lines", line)
		}
		if ok && (!strings.HasPrefix(line, "hotpath ") || !strings.HasSuffix(line, ")")) {
			t.Fatalf("%q accepted as a version line", line)
		}
	})
}

// FuzzValidateJSON: any input gives nil or an error, never a panic;
// the sample report (with settings.base and settings.servers) validates.
func FuzzValidateJSON(f *testing.F) {
	r := sampleReport()
	r.Settings.Base = &BaseBuild{Path: "/tmp/hotpath-base", Version: fakeVersion}
	r.Settings.Servers = []string{"hotpath-nethttp"}
	js, err := json.Marshal(r)
	if err != nil {
		f.Fatal(err)
	}
	if err := ValidateJSON(js); err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add([]byte(`{"schema":"hotpath.lab/v1","settings":{"base":{"path":1}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := ValidateJSON(data); err != nil && err.Error() == "" {
			t.Fatal("an empty error")
		}
	})
}
