package hostile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/internal/conformance"
	"github.com/hotpath-dev/hotpath/server"
)

// Option adjusts RunHTTP1.
type Option func(*settings)

type settings struct{ except map[string]string }

// Except skips the RunHTTP1 case named name (its last element as printed by
// go test -v, spaces included) with reason: a limit of the engine that it
// cannot work around, stated where the engine calls the suite. The skip is
// visible in test output; a name that matches no case fails the run, so
// exceptions cannot go stale.
func Except(name, reason string) Option {
	return func(s *settings) { s.except[name] = reason }
}

// RunHTTP1 runs the engine-level HTTP/1.1 hostile-client cases against
// engines built by f: request smuggling and malformed requests (each must
// be refused at once and its connection closed, with nothing pipelined
// behind it answered), size limits (431, 413, Expect: 100-continue),
// slowloris, slow request bodies, clients that never read, and a flood
// over Config.MaxInFlight. Each group starts its own engine on
// 127.0.0.1:0; every case is bounded in time and connections. The
// slowloris case counts goroutines and open descriptors of this process,
// so RunHTTP1 must not run in parallel with other tests (do not call
// t.Parallel around it) and the engine must run in process.
func RunHTTP1(t *testing.T, f conformance.Factory, opts ...Option) {
	set := settings{except: map[string]string{}}
	for _, o := range opts {
		o(&set)
	}
	for name := range set.except {
		if !hasHTTP1Case(name) {
			t.Errorf("hostile.Except(%q): no such case", name)
		}
	}
	t.Run("parsing", func(t *testing.T) { runParsing(t, f, set.except) })
	t.Run("limits", func(t *testing.T) { runLimits(t, f, set.except) })
	t.Run("slow clients", func(t *testing.T) { runSlow(t, f, set.except) })
	t.Run("flood", func(t *testing.T) { runFlood(t, f, set.except) })
}

// hasHTTP1Case reports whether a RunHTTP1 case is called name.
func hasHTTP1Case(name string) bool {
	for _, c := range parseCases() {
		if c.name == name {
			return true
		}
	}
	for _, c := range limitCases() {
		if c.name == name {
			return true
		}
	}
	for _, n := range slowCaseNames {
		if n == name {
			return true
		}
	}
	return name == floodCase
}

// skipIfExcepted skips t when its case is excepted.
func skipIfExcepted(t *testing.T, except map[string]string, name string) {
	t.Helper()
	if why, ok := except[name]; ok {
		t.Skip("engine exception: " + why)
	}
}

// running is one engine started by startEngine.
type running struct {
	host  string // public host:port
	admin string // admin base URL
}

// startEngine builds and runs an engine with cfg (public and admin on
// 127.0.0.1:0); it is stopped, and its Run error checked, when t ends.
func startEngine(t *testing.T, f conformance.Factory, cfg server.Config) *running {
	t.Helper()
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	e, err := f(cfg)
	if err != nil {
		t.Fatalf("build engine: %v", err)
	}
	if err := e.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return within 30s of cancel")
		}
	})
	return &running{host: e.Addr().String(), admin: "http://" + e.AdminAddr().String()}
}

// dial opens a TCP connection to host that is closed when t ends.
func dial(t *testing.T, host string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response from br within d and returns it with its
// body read.
func readResponse(c net.Conn, br *bufio.Reader, d time.Duration) (*http.Response, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res, body, err
}

// closedErr classifies how a read that waited for the peer to close ended:
// nil for an orderly close (EOF) or a reset (the peer closed with our bytes
// unread: still closed), else the error (a timeout means still open).
func closedErr(err error) error {
	if err == nil || errors.Is(err, io.EOF) || isReset(err) {
		return nil
	}
	return err
}

func isReset(err error) bool {
	var se *os.SyscallError
	return errors.As(err, &se) && (strings.Contains(se.Error(), "connection reset") || strings.Contains(se.Error(), "broken pipe"))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitClosed reads and discards from br until the peer closes the
// connection or d passes; it returns the bytes read and nil when the peer
// closed, or the bytes and an error.
func waitClosed(c net.Conn, br io.Reader, d time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := br.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, closedErr(err)
		}
	}
}

// inFlightRe finds the in-flight gauge on the admin /metrics.
var inFlightRe = regexp.MustCompile(`(?m)^hotpath_http_requests_in_flight (\S+)$`)

// waitInFlight polls the admin /metrics until the in-flight gauge is at
// least n, for up to 10 s.
func waitInFlight(client *http.Client, admin string, n int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := inFlight(client, admin)
		if err == nil && v >= n {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("in-flight gauge is %d, want %d", v, n)
			}
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func inFlight(client *http.Client, admin string) (int, error) {
	res, err := client.Get(admin + "/metrics")
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return 0, err
	}
	m := inFlightRe.FindSubmatch(b)
	if res.StatusCode != 200 || m == nil {
		return 0, fmt.Errorf("admin /metrics: %d, no in-flight gauge", res.StatusCode)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return int(v), err
}

// openFDs counts this process's open file descriptors (-1 where
// /proc/self/fd cannot be read).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// settle polls until this process's goroutines and open descriptors are
// back within slack of the baseline (or 10 s pass) and returns an error
// naming what stayed up.
func settle(baseG, baseFD, slack int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), openFDs()
		if g <= baseG+slack && (baseFD < 0 || fd <= baseFD+slack) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("goroutines %d (baseline %d), open fds %d (baseline %d): not back within %d of the baseline after 10 s",
				g, baseG, fd, baseFD, slack)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
