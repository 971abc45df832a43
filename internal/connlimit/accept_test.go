package connlimit

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// failingListener fails its first Accepts with errs, in order, then accepts
// from the real listener it wraps.
type failingListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// acceptErr is what a *net.TCPListener returns for errno e.
func acceptErr(e syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", e)}
}

// syncBuf is a log destination the Accept goroutine and the test share.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"EMFILE: this process is out of descriptors", acceptErr(syscall.EMFILE), true},
		{"ENFILE: the system is", acceptErr(syscall.ENFILE), true},
		{"ENOBUFS: out of socket buffers", acceptErr(syscall.ENOBUFS), true},
		{"ENOMEM: out of kernel memory", acceptErr(syscall.ENOMEM), true},
		{"ECONNABORTED: a queued connection was reset", acceptErr(syscall.ECONNABORTED), true},
		{"a closed listener stops serving", net.ErrClosed, false},
		{"EBADF is a bug, not a shortage", acceptErr(syscall.EBADF), false},
		{"a deadline is the caller's own: passed on", os.ErrDeadlineExceeded, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Temporary(tc.err); got != tc.want {
				t.Fatalf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestAcceptRetriesTemporary: what a server's accept loop sees through New
// and Cap when the process runs out of descriptors: nothing but the next
// connection (fasthttp and portmux stopped serving on EMFILE for good); the
// retries are logged once, not once each.
func TestAcceptRetriesTemporary(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(net.Listener, ...Option) net.Listener
	}{
		{"New", func(ln net.Listener, o ...Option) net.Listener { return New(ln, 4, 0, 0, o...) }},
		{"Cap", func(ln net.Listener, o ...Option) net.Listener { return Cap(ln, 4, o...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			fl := &failingListener{Listener: inner, errs: []error{
				acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE), acceptErr(syscall.ENOBUFS),
				acceptErr(syscall.ENOMEM), acceptErr(syscall.ECONNABORTED),
			}}
			var logs syncBuf
			l := tc.wrap(fl, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			defer l.Close()
			client, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			c, err := l.Accept() // 5+10+20+40+80 ms of back-off
			if err != nil {
				t.Fatalf("Accept: %v; want the connection after the temporary errors", err)
			}
			c.Close()
			out := logs.String()
			// One line for five retries: the limiter lets one a second through.
			if n := strings.Count(out, "accept failed; retrying"); n != 1 {
				t.Fatalf("%d log lines for 5 retries within 1 s, want 1:\n%s", n, out)
			}
			if !strings.Contains(out, "too many open files") || !strings.Contains(out, "level=WARN") {
				t.Fatalf("log line does not name the error at WARN:\n%s", out)
			}
		})
	}
}

// TestAcceptPassesOtherErrors: an error that is no shortage ends Accept at
// once, and frees the slot it took.
func TestAcceptPassesOtherErrors(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	bad := acceptErr(syscall.EBADF)
	l := New(&failingListener{Listener: inner, errs: []error{bad}}, 1, 0, 0)
	if _, err := l.Accept(); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Accept: %v, want EBADF passed on", err)
	}
	if len(l.sem) != 0 {
		t.Fatal("a failed Accept kept its slot")
	}
}

// TestCloseDuringBackoff: Close ends an Accept that is backing off, with
// net.ErrClosed, and frees its slot.
func TestCloseDuringBackoff(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 1000) // far more back-off than the test waits for
	for i := range errs {
		errs[i] = acceptErr(syscall.EMFILE)
	}
	l := New(&failingListener{Listener: inner, errs: errs}, 1, 0, 0, WithLogger(slog.New(slog.DiscardHandler)))
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it back off a few times
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end an Accept backing off")
	}
	if len(l.sem) != 0 {
		t.Fatal("the Accept ended by Close kept its slot")
	}
}

func TestLogLimiter(t *testing.T) {
	base := time.Unix(1000, 0)
	var g logLimiter
	steps := []struct {
		at      time.Duration
		ok      bool
		skipped int
	}{
		{0, true, 0},                       // the first report goes out
		{10 * time.Millisecond, false, 0},  // held back
		{999 * time.Millisecond, false, 0}, // held back
		{time.Second, true, 2},             // a second later: out, with the two held back
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
		{6 * time.Second, true, 0},
	}
	for i, s := range steps {
		ok, skipped := g.allow(base.Add(s.at))
		if ok != s.ok || skipped != s.skipped {
			t.Fatalf("step %d (at %v): allow = %v, %d; want %v, %d", i, s.at, ok, skipped, s.ok, s.skipped)
		}
	}
}

func TestNoFileEnough(t *testing.T) {
	tests := []struct {
		name     string
		limit    uint64
		maxConns int
		want     bool
	}{
		{"the defect's setting: 200 for 1000", 200, 1000, false},
		{"just short of the headroom", 1000 + FDHeadroom - 1, 1000, false},
		{"exactly cap plus headroom", 1000 + FDHeadroom, 1000, true},
		{"the default cap under a common 1024 limit", 1024, 10000, false},
		{"the default cap under a raised limit", 1 << 20, 10000, true},
		{"unlimited (RLIM_INFINITY)", ^uint64(0), 10000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := noFileEnough(tc.limit, tc.maxConns); got != tc.want {
				t.Fatalf("noFileEnough(%d, %d) = %v, want %v", tc.limit, tc.maxConns, got, tc.want)
			}
		})
	}
}

// TestCheckNoFile: the defect's setting (limit 200, cap 1000) warns naming
// both numbers and the remedies; this process's real limit covers a cap
// of 1, silently.
func TestCheckNoFile(t *testing.T) {
	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if limit, ok := CheckNoFile(log, 1); !ok || logs.String() != "" {
		t.Fatalf("CheckNoFile with a cap of 1 under limit %d: ok=%v, logged %q", limit, ok, logs.String())
	}
	if checkNoFile(log, 1000, 200, true) {
		t.Fatal("checkNoFile(1000 under 200): ok")
	}
	out := logs.String()
	for _, want := range []string{"level=WARN", "nofile_limit=200", "max_connections=1000", "needed=1064", "ulimit -n", "LimitNOFILE"} {
		if !strings.Contains(out, want) {
			t.Fatalf("warning lacks %q:\n%s", want, out)
		}
	}
	logs = syncBuf{}
	if !checkNoFile(log, 1000, 0, false) || logs.String() != "" {
		t.Fatalf("an unknown limit warned: %q", logs.String())
	}
}
