package hostile

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fd-exhaustion attack: serve runs under an open-file limit far below
// its connection cap, and the attacker holds more connections than the
// limit leaves room for.
const (
	fdLimit      = 200
	fdMaxConns   = 1000
	fdAttackConn = 300
	fdHold       = 2 * time.Second
)

// noFileWrap is the command prefix that runs serve with RLIMIT_NOFILE n
// (soft and hard): util-linux prlimit where it exists, else the shell's
// ulimit builtin followed by exec.
func noFileWrap(n int) []string {
	if _, err := exec.LookPath("prlimit"); err == nil {
		return []string{"prlimit", "--nofile=" + strconv.Itoa(n) + ":" + strconv.Itoa(n)}
	}
	return []string{"sh", "-c", `ulimit -n "$0" && exec "$@"`, strconv.Itoa(n)}
}

// TestFDExhaustion: with RLIMIT_NOFILE 200 and --max-connections 1000,
// 300 connections held for 2 s exhaust serve's descriptors. On every
// engine, shared port or not, serve must warn about the limit at start,
// stay alive while accept fails with EMFILE (fasthttp exited 1 on it), and
// answer again once the attacker lets go (net/http behind portmux never
// accepted again). connlimit's Accept retries EMFILE for the engines that
// use it (net/http, fasthttp, and the shared port's cap); portmux and nbio
// retry it themselves.
func TestFDExhaustion(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"fasthttp shared port", []string{"--engine", "fasthttp"}},
		{"fasthttp own port", []string{"--engine", "fasthttp", "--grpc=false"}},
		{"nethttp shared port", nil},
		{"nethttp own port", []string{"--grpc=false"}},
		{"nbio", []string{"--engine", "nbio"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--max-connections", strconv.Itoa(fdMaxConns)}, tc.args...)
			p := startServe(t, noFileWrap(fdLimit), args...)
			out := p.stderr.String()
			if !strings.Contains(out, "open-file limit is below --max-connections") ||
				!strings.Contains(out, "nofile_limit="+strconv.Itoa(fdLimit)) ||
				!strings.Contains(out, "max_connections="+strconv.Itoa(fdMaxConns)) {
				t.Fatalf("no start-up warning naming the limit %d and the cap %d; output:\n%s", fdLimit, fdMaxConns, out)
			}

			_, release, err := dialMany(t, p.addr, fdAttackConn)
			if err != nil {
				p.alive(t) // serve exiting is the likelier failure: report that
				t.Fatal(err)
			}
			// The attack worked only if serve ran out of descriptors:
			// wait until its table is (nearly) full.
			peak := 0
			deadline := time.Now().Add(5 * time.Second)
			for peak < fdLimit-5 && time.Now().Before(deadline) {
				p.alive(t)
				peak = max(peak, p.fds(t))
				time.Sleep(20 * time.Millisecond)
			}
			if peak < fdLimit-5 {
				t.Fatalf("serve holds at most %d descriptors under %d connections; the attack did not exhaust %d", peak, fdAttackConn, fdLimit)
			}
			time.Sleep(fdHold)
			p.alive(t)
			release()
			p.answersWithin(t, 10*time.Second)
			p.noPanic(t)
			t.Logf("peak descriptors %d of %d", peak, fdLimit)
			if err := p.stop(t); err != nil {
				t.Fatalf("exit after SIGTERM: %v; output:\n%s", err, p.stderr.String())
			}
		})
	}
}
