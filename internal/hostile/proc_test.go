package hostile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// bin is the hotpath binary TestMain builds once for the process-level cases.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hostile-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "hotpath")
	build := exec.Command("go", "build", "-o", bin, "github.com/hotpath-dev/hotpath/cmd/hotpath")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hotpath:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// The child servers must not write serve's default ingest log into the
	// package directory (or share its lock); the crash test passes
	// --ingest-sink itself.
	os.Setenv("HOTPATH_INGEST_SINK", "off")
	code := 0
	func() {
		defer os.RemoveAll(dir)
		if err := goleak.Find(); err != nil { // before: nothing of ours may run yet
			fmt.Fprintln(os.Stderr, err)
			code = 1
			return
		}
		code = m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
				code = 1
			}
		}
	}()
	os.Exit(code)
}

// proc is one `hotpath serve` child process.
type proc struct {
	cmd    *exec.Cmd
	addr   string // public address, host:port
	admin  string // admin address, host:port
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, read after done
}

// syncBuffer is a bytes.Buffer safe for the child's writer and the test.
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

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `hotpath serve --addr A --admin-addr B args...` (wrapped by
// wrap, e.g. {"prlimit", "--nofile=200"}, when non-empty) and waits until
// /readyz answers 200. The process is killed when the test ends unless the
// test stopped it itself.
func startServe(t *testing.T, wrap []string, args ...string) *proc {
	t.Helper()
	p := &proc{addr: freePort(t), admin: freePort(t), stderr: &syncBuffer{}, done: make(chan struct{})}
	argv := append(append([]string{}, wrap...), bin, "serve", "--addr", p.addr, "--admin-addr", p.admin)
	argv = append(argv, args...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	scheme := "http://"
	tr := &http.Transport{DisableKeepAlives: true}
	for _, a := range args {
		if a == "--tls-self-signed" {
			scheme = "https://"
			tr.TLSClientConfig = insecureTLS()
			tr.ForceAttemptHTTP2 = true // ALPN offers h2: speak it
		}
	}
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(scheme + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("serve %v exited before ready: %v; output:\n%s", args, p.err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve %v never became ready: %v; output:\n%s", args, err, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive fails the test if the process has exited.
func (p *proc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("serve exited: %v; output:\n%s", p.err, p.stderr.String())
	default:
	}
}

// stop sends SIGTERM and returns the exit error (nil for exit 0).
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit within 30s of SIGTERM; output:\n%s", p.stderr.String())
		return nil
	}
}

// cpuTime is the process's user+system CPU time so far (Linux /proc).
func (p *proc) cpuTime(t *testing.T) time.Duration {
	t.Helper()
	return statCPU(t, p.cmd.Process.Pid)
}

// rss is the process's resident set size in bytes (Linux /proc).
func (p *proc) rss(t *testing.T) int64 {
	t.Helper()
	return statusKB(t, p.cmd.Process.Pid, "VmRSS:") << 10
}

// fds is the number of open file descriptors of the process.
func (p *proc) fds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// statCPU reads utime+stime of pid from /proc/PID/stat (clock ticks of
// 10 ms on Linux, USER_HZ=100).
func statCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// statusKB reads one "Key: N kB" line of /proc/PID/status.
func statusKB(t *testing.T, pid int, key string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// get does one GET of path on a fresh connection to the public address
// (2 s timeout) and returns the status, having read the whole body.
func (p *proc) get(path string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// answersWithin fails the test unless GET /time answers 200 within d
// (retried every 50 ms), or if the process exits meanwhile.
func (p *proc) answersWithin(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		p.alive(t)
		code, err := p.get("/time")
		if err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /time not answered 200 within %v: %d, %v; output:\n%s", d, code, err, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// noPanic fails the test if the process's output mentions a panic.
func (p *proc) noPanic(t *testing.T) {
	t.Helper()
	if out := p.stderr.String(); strings.Contains(out, "panic") {
		t.Fatalf("output mentions a panic:\n%s", out)
	}
}

// dialMany opens n connections to addr, each closed with SO_LINGER 0 (an
// RST, no TIME_WAIT) when the test ends or close runs, whichever first. On
// a failed dial it closes what it opened and returns the error.
func dialMany(t *testing.T, addr string, n int) (conns []net.Conn, close func(), err error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, func() {}, fmt.Errorf("dial %d of %d: %w", len(conns)+1, n, err)
		}
		_ = c.(*net.TCPConn).SetLinger(0)
		conns = append(conns, c)
	}
	var once sync.Once
	close = func() {
		once.Do(func() {
			for _, c := range conns {
				c.Close()
			}
		})
	}
	t.Cleanup(close)
	return conns, close, nil
}
