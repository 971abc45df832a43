// Package lab runs the seed's experiments on the machine it runs on: hotpath's
// servers against bare Go baselines and real peers (nginx, gunicorn + Flask,
// Node.js), pinned, interleaved over rounds, with the server's CPU per
// request as the primary figure; and writes a report (JSON, Markdown and a
// self-contained HTML page) with the seed's figure beside each of ours.
//
// Run needs the hotpath binary (Config.Binary): servers, the load generator
// and the CPU-pinning wrapper are started as its sub-commands, so the figures
// are those of the programs a user runs. Peers are looked up on PATH; a
// missing one is a row saying so, never an error.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Scenario ids, part of the command-line interface and of report.json.
const (
	Servers   = "servers"
	Chain     = "chain"
	GC        = "gc"
	Gateway   = "gateway"
	Protocols = "protocols"
)

// ScenarioIDs returns every scenario id in the order Run runs them.
func ScenarioIDs() []string { return []string{Servers, Chain, GC, Gateway, Protocols} }

// ErrConfig is wrapped by every error Validate returns.
var ErrConfig = errors.New("invalid lab run")

// Config describes one lab run. The zero value of each optional field is
// the documented default.
type Config struct {
	// Binary is the hotpath binary whose sub-commands (serve, bench,
	// lab-server, lab-exec) the lab starts. Required.
	Binary string
	// Quick selects short runs (about 1.5 minutes in all on 2 cores): the
	// defaults of Duration and Rounds become 1 s and 2 (1 for the chain
	// scenario unless Rounds is set), warm-ups 200 ms, and idle connections
	// 1,000 instead of 10,000.
	Quick bool
	// Only restricts the run to these scenario ids; empty means all.
	Only []string
	// Peers is "auto" (default: every peer found on PATH), "none", or a
	// comma-separated list of peer names (PeerNames).
	Peers string
	// Duration is each measured run; default 5 s (1 s with Quick).
	Duration time.Duration
	// Rounds is the number of interleaved rounds; default 3 (2 with Quick).
	Rounds int
	// Progress, when non-nil, receives a one-line progress display
	// (carriage-return updates, for a terminal).
	Progress io.Writer
	// Servers restricts the servers scenario to these rows (ServerNames);
	// empty means all. Rows left out are absent from the report, and so
	// are the ratios that need them.
	Servers []string
	// Base, when set, is a second hotpath binary (e.g. built from another
	// revision) to compare with Binary: the servers scenario adds, right
	// after each hotpath-<engine> row it runs, a row
	// base-hotpath-<engine> started from Base with the same arguments,
	// interleaved with the others, and the ratios "hotpath-<engine> /
	// base". It must be an executable whose `version` prints a hotpath
	// version line; the report records that line and Base's absolute path
	// (settings.base). A relative path is resolved against the working
	// directory. A serve flag an older Base lacks fails its rows with the
	// server's own message.
	Base string
	// BaseArgs are appended to the base rows' `serve` arguments: with Base
	// set to Binary itself, an A/B of one serve flag (e.g. --grpc=false).
	// They need Base.
	BaseArgs []string
	// Command and Version are recorded in the report as given.
	Command string
	Version string
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Peers == "" {
		c.Peers = "auto"
	}
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
		if c.Quick {
			c.Duration = time.Second
		}
	}
	if c.Rounds == 0 {
		c.Rounds = 3
		if c.Quick {
			c.Rounds = 2
		}
	}
	if len(c.Only) == 0 {
		c.Only = ScenarioIDs()
	}
	return c
}

// Validate reports the first problem with c, wrapping ErrConfig, with the
// flag's name in the message. With Base set it runs `Base version` (at most
// 10 s) to check that Base is a hotpath binary.
func (c Config) Validate() error {
	_, err := c.validate()
	return err
}

// validate is Validate, returning also Base's version line.
func (c Config) validate() (baseVersion string, err error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if err := c.validateFlags(); err != nil {
		return "", err
	}
	runsServers := len(c.Only) == 0 || slices.Contains(c.Only, Servers)
	for _, n := range c.Servers {
		if !slices.Contains(ServerNames(), n) {
			return "", bad("--servers: unknown row %q (want a list of %s)", n, strings.Join(ServerNames(), ", "))
		}
	}
	if len(c.Servers) > 0 && !runsServers {
		return "", bad("--servers: --only %s leaves out the servers scenario", strings.Join(c.Only, ","))
	}
	if c.Base == "" {
		if len(c.BaseArgs) > 0 {
			return "", bad("--base-args: needs --base (the binary the arguments are for; hotpath's own path to A/B a flag)")
		}
		return "", nil
	}
	if !runsServers {
		return "", bad("--base: --only %s leaves out the servers scenario, the only one that runs the base binary", strings.Join(c.Only, ","))
	}
	if len(c.Servers) > 0 && !slices.ContainsFunc(c.Servers, func(n string) bool {
		e, ok := strings.CutPrefix(n, "hotpath-")
		return ok && slices.Contains(hotpathEngines, e)
	}) {
		return "", bad("--base: --servers %s has no hotpath-<engine> row to compare with the base", strings.Join(c.Servers, ","))
	}
	v, err := probeBase(c.Base)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return v, nil
}

// validateFlags checks the fields that need no file system.
func (c Config) validateFlags() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	for _, id := range c.Only {
		if !slices.Contains(ScenarioIDs(), id) {
			return bad("--only: unknown scenario %q (want %s)", id, strings.Join(ScenarioIDs(), ", "))
		}
	}
	switch {
	case c.Binary == "":
		return bad("no hotpath binary")
	case c.Duration < 0 || (c.Duration > 0 && c.Duration < 200*time.Millisecond) || c.Duration > 10*time.Minute:
		return bad("--duration %v: want 200ms to 10m", c.Duration)
	case c.Rounds < 0 || c.Rounds > 50:
		return bad("--rounds %d: want 1 to 50", c.Rounds)
	}
	if c.Peers != "" && c.Peers != "auto" && c.Peers != "none" {
		for _, n := range strings.Split(c.Peers, ",") {
			if !slices.Contains(PeerNames(), strings.TrimSpace(n)) {
				return bad("--peers: unknown peer %q (want auto, none or a list of %s)", n, strings.Join(PeerNames(), ", "))
			}
		}
	}
	return nil
}

// PrepareOut creates dir (and its parents) and checks that a file can be
// written in it; the error wraps ErrConfig and names dir.
func PrepareOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: --out %s: %w", ErrConfig, dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("%w: --out %s: not writable: %w", ErrConfig, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// DefaultOut returns the default report directory for t: hotpath-lab-DATE.
func DefaultOut(t time.Time) string { return "hotpath-lab-" + t.UTC().Format("2006-01-02") }

// lab is one run in progress.
type lab struct {
	cfg    Config
	pinned bool   // ≥ 2 CPUs: servers on serverCPU, load on loadCPU
	tmp    string // scratch directory, removed at the end
	peers  peerSet
	prog   *progress
	conns  int // idle keep-alive connections held per server
	// holding is set while a phase holds the idle connections: nginx
	// allocates its connection table at start, so it is sized for them
	// only then (otherwise 1,024, as the retired scripts/engine-cost.sh
	// sized it),
	// which keeps its start-up RSS comparable.
	holding bool
	// chainRounds is the chain scenario's rounds: Rounds, or 1 with Quick
	// when Rounds was not set (each chain round starts a server twice as
	// long as the other scenarios' rounds).
	chainRounds int
}

// Run performs the scenarios of c and returns the report. It returns an
// error wrapping ErrConfig for an invalid c, and other errors only when the
// lab itself cannot run (no scratch directory); a server that fails is a
// row with status "failed: …". Cancelling ctx stops the run: Run then
// returns what was measured, with Interrupted set.
func Run(ctx context.Context, c Config) (*Report, error) {
	baseVersion, err := c.validate()
	if err != nil {
		return nil, err
	}
	if c.Base != "" {
		// The servers run in the scratch directory.
		if c.Base, err = filepath.Abs(c.Base); err != nil {
			return nil, fmt.Errorf("%w: --base: %w", ErrConfig, err)
		}
	}
	roundsSet := c.Rounds != 0
	c = c.withDefaults()
	tmp, err := os.MkdirTemp("", "hotpath-lab-")
	if err != nil {
		return nil, fmt.Errorf("lab: scratch directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := writeScripts(tmp); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	raiseFileLimit()
	l := &lab{cfg: c, tmp: tmp, pinned: runtime.NumCPU() >= 2, conns: 10000, prog: newProgress(c.Progress)}
	l.chainRounds = c.Rounds
	if c.Quick {
		l.conns = 1000
		if !roundsSet {
			l.chainRounds = 1
		}
	}
	l.peers = discoverPeers(ctx, c.Peers, execLookPath)
	rep := newReport(c, l)
	if c.Base != "" {
		rep.Settings.Base = &BaseBuild{Path: c.Base, Version: baseVersion}
		rep.Settings.BaseArgs = c.BaseArgs
	}
	for _, id := range c.Only {
		l.prog.plan(l.steps(id))
	}
	start := time.Now()
	for _, id := range ScenarioIDs() {
		if !slices.Contains(c.Only, id) {
			continue
		}
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		t0 := time.Now()
		sc := l.scenario(ctx, id)
		sc.ElapsedS = round(time.Since(t0).Seconds(), 1)
		rep.Scenarios = append(rep.Scenarios, sc)
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	l.prog.done()
	rep.finish(time.Since(start))
	return rep, nil
}

func (l *lab) scenario(ctx context.Context, id string) Scenario {
	switch id {
	case Servers:
		return l.runServers(ctx)
	case GC:
		return l.runGC(ctx)
	case Chain:
		return l.runChain(ctx)
	case Gateway:
		return l.runGateway(ctx)
	default:
		return placeholder(id, "Protocol figures: keep-alive pools, HPACK, protobuf decoding, TLS resumption (seed §2.1, §4.1–4.3)",
			[]string{"protocols"}, "not built yet")
	}
}

// steps is the number of progress steps scenario id takes: one per server
// start.
func (l *lab) steps(id string) int {
	switch id {
	case Servers:
		n := 0
		for _, c := range l.serverRows() {
			if c.Peer == "" || l.peers.path(c.Peer) != "" {
				n++
			}
		}
		phase2 := l.cfg.Rounds
		if l.cfg.Quick {
			phase2 = 1
		}
		return n * (l.cfg.Rounds + phase2)
	case GC:
		return 2 * l.cfg.Rounds
	case Chain:
		return len(chainRows) * l.chainRounds
	case Gateway:
		n := len(gatewayRows)
		if l.peers.path("grpc-gateway") == "" {
			n--
		}
		return n * l.cfg.Rounds
	}
	return 0
}

// placeholder is a scenario whose rows are not measured yet: each row says
// why, and carries no figure.
func placeholder(id, title string, rows []string, status string) Scenario {
	s := Scenario{ID: id, Title: title}
	for _, r := range rows {
		s.Rows = append(s.Rows, Row{Name: r, Status: status, Metrics: map[string]float64{}})
	}
	return s
}

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit, explicitly,
// so that the children inherit it (os/exec otherwise restores the original
// soft limit, which Go raises only for its own process): 10,000 held
// connections need that many descriptors in the server and in the lab.
func raiseFileLimit() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}

// tmpPath returns a path in the run's scratch directory.
func (l *lab) tmpPath(name string) string { return filepath.Join(l.tmp, name) }
