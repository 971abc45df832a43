package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hotpath-dev/hotpath/report"
)

// CPUs the lab pins to when the machine has at least two: the server under
// test on serverCPU with GOMAXPROCS=1, the load generator on loadCPU.
const (
	serverCPU = 0
	loadCPU   = 1
)

// runChild runs argv pinned to the load CPU in its own process group (killed
// whole if ctx ends) and returns its stdout; a non-zero exit is an error that
// quotes the last line of stderr.
func (l *lab) runChild(ctx context.Context, argv []string) ([]byte, error) {
	argv = l.pinArgv(loadCPU, argv)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", argv[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// benchRun describes one `hotpath bench` run against a server's /time.
type benchRun struct {
	Connections int
	Duration    time.Duration
	Warmup      time.Duration
	Rate        float64 // > 0: open loop
}

// bench runs hotpath's own load generator (`hotpath bench -o json`, a child
// of the same binary pinned to the load CPU) and returns its result.
func (l *lab) bench(ctx context.Context, url string, b benchRun) (*report.Result, error) {
	argv := []string{l.cfg.Binary, "bench", "-o", "json", "--timeout", "5s",
		"-c", strconv.Itoa(b.Connections), "-d", b.Duration.String()}
	if b.Warmup > 0 {
		argv = append(argv, "--warmup", b.Warmup.String())
	}
	if b.Rate > 0 {
		argv = append(argv, "--rate", strconv.FormatFloat(b.Rate, 'f', 0, 64))
	}
	argv = append(argv, url)
	out, err := l.runChild(ctx, argv)
	if err != nil {
		return nil, fmt.Errorf("hotpath bench: %w", err)
	}
	return report.ReadJSON("hotpath bench", out)
}

// abResult is what the lab reads from ApacheBench's report.
type abResult struct {
	RPS    float64
	Failed int
	Non2xx int
	P50Ms  float64
	P99Ms  float64
}

var (
	abRPS    = regexp.MustCompile(`(?m)^Requests per second:\s+([0-9.]+)`)
	abFailed = regexp.MustCompile(`(?m)^Failed requests:\s+([0-9]+)`)
	abNon2xx = regexp.MustCompile(`(?m)^Non-2xx responses:\s+([0-9]+)`)
	abPct    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9]+)`)
)

// parseAB reads ApacheBench's text report: requests per second, failed and
// non-2xx counts, and the 50 % and 99 % lines of its "Percentage of the
// requests served within a certain time (ms)" table.
func parseAB(out []byte) (abResult, error) {
	var r abResult
	m := abRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("ab: no \"Requests per second\" line")
	}
	var err error
	if r.RPS, err = strconv.ParseFloat(string(m[1]), 64); err != nil {
		return r, fmt.Errorf("ab: requests per second %q: %w", m[1], err)
	}
	if m := abFailed.FindSubmatch(out); m != nil {
		r.Failed, _ = strconv.Atoi(string(m[1]))
	}
	if m := abNon2xx.FindSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.Atoi(string(m[1]))
	}
	for _, m := range abPct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		if string(m[1]) == "50" {
			r.P50Ms = v
		} else {
			r.P99Ms = v
		}
	}
	return r, nil
}

// abRequests is ab's -n: the seed's 10,000, or 2,000 with --quick.
func (l *lab) abRequests() int {
	if l.cfg.Quick {
		return 2000
	}
	return 10000
}

// ab runs `ab -n n -c 500` against url, as the seed ran it (no keep-alive),
// pinned to the load CPU.
func (l *lab) ab(ctx context.Context, url string, n int) (abResult, error) {
	out, err := l.runChild(ctx, []string{l.peers.path("ab"), "-q", "-n", strconv.Itoa(n), "-c", "500", "-s", "10", url})
	if err != nil {
		return abResult{}, err
	}
	return parseAB(out)
}
