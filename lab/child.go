package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// server is one server under test: a child process in its own process group
// (every process it forks — gunicorn's workers — is measured and stopped
// with it), pinned to the server CPU when the lab pins.
type server struct {
	name  string
	cmd   *exec.Cmd
	pgid  int
	addr  string // public host:port
	admin string // admin host:port ("" when the server has none)
	out   *lineLog
	done  chan struct{}
}

// liveGroups holds the process groups of the servers running now, for
// KillChildren.
var liveGroups sync.Map // pgid → struct{}

// KillChildren sends SIGKILL to the process group of every server Run has
// started and not yet stopped. A command that must exit at once (a second
// Ctrl-C) calls it first, so that no server outlives the lab; Run's own
// cancellation stops them without it.
func KillChildren() {
	liveGroups.Range(func(k, _ any) bool {
		_ = syscall.Kill(-k.(int), syscall.SIGKILL)
		return true
	})
}

// URL returns the server's GET /time URL.
func (s *server) URL() string { return "http://" + s.addr + "/time" }

// stop ends the process group: SIGTERM, then SIGKILL after 5 s. It is safe to
// call twice.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
		<-s.done
	}
	// gunicorn's workers may outlive a master that exited first.
	_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
	liveGroups.Delete(s.pgid)
}

// lineLog keeps the last lines a child wrote (for error messages) and hands
// each complete line to onLine. Safe for concurrent use.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	tail    [][]byte
	onLine  func([]byte)
}

const tailLines = 20

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := bytes.Clone(l.partial[:i])
		l.partial = l.partial[i+1:]
		if l.onLine != nil {
			l.onLine(line)
		}
		if len(l.tail) == tailLines {
			l.tail = l.tail[1:]
		}
		l.tail = append(l.tail, line)
	}
	if len(l.partial) > 64<<10 { // a runaway line: keep the tail bounded
		l.partial = l.partial[len(l.partial)-1024:]
	}
	return len(p), nil
}

// Last returns the last line written, or "".
func (l *lineLog) Last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		return string(l.partial)
	}
	if len(l.tail) == 0 {
		return ""
	}
	return string(l.tail[len(l.tail)-1])
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. A
// child binds it next; the small race with another process is retried by
// the caller (launch).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// launchSpec says how to start one server: argv and environment for a public
// port and an admin port, and where it runs.
type launchSpec struct {
	Name  string
	Argv  func(port, adminPort int) []string
	Dir   string
	Env   []string
	Admin bool          // the server has an admin listener on adminPort
	Ready time.Duration // how long it may take to answer; default 10 s
	// ReadyPath is the path that must answer 200 before the server counts
	// as started; default /time. Ignored when Probe is set.
	ReadyPath string
	// Probe, when set, replaces the GET ReadyPath check for a server that
	// speaks no HTTP/1.1 (a gRPC-only server): the server counts as started
	// once Probe(ctx, addr) returns nil, addr being its host:port. Probe
	// must return within a second or so, or when ctx is done.
	Probe func(ctx context.Context, addr string) error
	// OnLine, when set, gets each line the server writes (stdout and stderr).
	OnLine func([]byte)
}

// pinArgv prefixes argv with the lab's pinning wrapper for cpu (`hotpath
// lab-exec --cpu N -- argv...`, which sets the CPU affinity of its thread and
// execs argv: the process keeps the PID and every thread it creates inherits
// the mask). cpu < 0 returns argv unchanged.
func (l *lab) pinArgv(cpu int, argv []string) []string {
	if cpu < 0 || !l.pinned {
		return argv
	}
	return append([]string{l.cfg.Binary, "lab-exec", "--cpu", strconv.Itoa(cpu), "--"}, argv...)
}

// launch starts spec pinned to the server CPU (GOMAXPROCS=1 in its
// environment) and waits until GET /time answers 200. It retries once with
// other ports if the server exits before answering (a port taken in the
// meantime).
func (l *lab) launch(ctx context.Context, spec launchSpec) (*server, error) {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var s *server
		if s, err = l.launchOnce(ctx, spec); err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, err
}

func (l *lab) launchOnce(ctx context.Context, spec launchSpec) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := l.pinArgv(serverCPU, spec.Argv(port, adminPort))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = append(append(os.Environ(), "GOMAXPROCS=1"), spec.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &lineLog{onLine: spec.OnLine}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	s := &server{name: spec.Name, cmd: cmd, pgid: cmd.Process.Pid, out: out, done: make(chan struct{}),
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if spec.Admin {
		s.admin = net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))
	}
	liveGroups.Store(s.pgid, struct{}{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	ready := spec.Ready
	if ready == 0 {
		ready = 10 * time.Second
	}
	probe := spec.Probe
	if probe == nil {
		path := spec.ReadyPath
		if path == "" {
			path = "/time"
		}
		probe = httpProbe(path)
	}
	if err := waitReady(ctx, s, probe, ready); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady runs probe against s's address every 50 ms until it returns
// nil, the process exits, or limit passes.
func waitReady(ctx context.Context, s *server, probe func(context.Context, string) error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := probe(pctx, s.addr)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before answering: %s", s.name, lastOr(s.out.Last(), s.cmd.ProcessState.String()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v: %v", s.name, limit, err)
		}
	}
}

// httpProbe returns a probe that GETs path on a fresh connection and wants
// 200.
func httpProbe(path string) func(context.Context, string) error {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return func(ctx context.Context, addr string) error {
		url := "http://" + addr + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s answered %d", url, res.StatusCode)
		}
		return nil
	}
}

// grpcNowProbe calls hotpath.v1.TimeService/Now on addr over a fresh
// cleartext HTTP/2 connection and wants it to succeed.
func grpcNowProbe(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := hotpathv1.NewTimeServiceClient(conn).Now(ctx, &hotpathv1.NowRequest{}); err != nil {
		return fmt.Errorf("gRPC Now on %s: %w", addr, err)
	}
	return nil
}

func lastOr(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}
