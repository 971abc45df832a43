package hostile

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// h2specBin finds h2spec (the standard HTTP/2 conformance suite): $H2SPEC,
// the repository's .tools/bin (where `make test` installs it), or PATH.
func h2specBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("H2SPEC"); p != "" {
		return p
	}
	if root, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		p := filepath.Join(filepath.Dir(strings.TrimSpace(string(root))), ".tools", "bin", "h2spec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("h2spec")
	if err != nil {
		t.Fatal("h2spec not found: run `make tools` (go install github.com/summerwind/h2spec/cmd/h2spec) or set H2SPEC")
	}
	return p
}

// h2specFailures runs h2spec against addr and returns the failed cases'
// names ("section: case").
func h2specFailures(t *testing.T, addr string, useTLS bool) []string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	args := []string{"-h", host, "-p", port, "-P", "/time", "-o", "2", "-j", report}
	if useTLS {
		args = append(args, "-t", "-k")
	}
	out, _ := exec.Command(h2specBin(t), args...).CombinedOutput() // exits 1 when a case fails
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("h2spec wrote no report: %v; output:\n%s", err, out)
	}
	var r struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"classname,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var failed []string
	total := 0
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			total++
			if c.Failure != nil || c.Error != nil {
				failed = append(failed, s.Name+": "+c.Name)
			}
		}
	}
	if total < 140 {
		t.Fatalf("h2spec ran %d cases, want the whole suite (145); output:\n%s", total, out)
	}
	t.Logf("h2spec %s tls=%v: %d of %d failed: %q", addr, useTLS, len(failed), total, failed)
	return failed
}

// netHTTPDeviations are the h2spec cases that plain net/http (Go 1.26,
// this package's plainNetHTTP) has been seen to fail on this machine, some
// in every run, some in some runs only (the race between a response's end
// and the frames h2spec sends next decides them): 4 to 6 of 145 per run.
var netHTTPDeviations = []string{
	"3.5. HTTP/2 Connection Preface: Sends invalid connection preface", // h2c: answered as HTTP/1.1
	"4.2. Frame Size: Sends a large size HEADERS frame that exceeds the SETTINGS_MAX_FRAME_SIZE",
	"6.5.3. Settings Synchronization: Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE",
	"6.9.1. The Flow-Control Window: Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1 on a stream",
	"8.1.2.2. Connection-Specific Header Fields: Sends a HEADERS frame that contains the connection-specific header field",
	"8.1.2.2. Connection-Specific Header Fields: Sends a HEADERS frame that contains the TE header field with any value other than \"trailers\"",
	"8.1.2.6. Malformed Requests and Responses: Sends a HEADERS frame with the \"content-length\" header field which does not equal the DATA frame payload length",
	"8.1.2.6. Malformed Requests and Responses: Sends a HEADERS frame with the \"content-length\" header field which does not equal the sum of the multiple DATA frames payload length",
}

// plainNetHTTP serves /time on a bare net/http server with HTTP/2 (TLS) or
// h2c, the baseline whose h2spec deviations are net/http's own.
func plainNetHTTP(t *testing.T, useTLS bool) string {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &trackingListener{Listener: inner}
	mux := http.NewServeMux()
	mux.HandleFunc("/time", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strconv.FormatInt(time.Now().UnixMilli(), 10)))
	})
	hs := &http.Server{Handler: mux, Protocols: new(http.Protocols), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // h2spec's protocol errors are expected
	hs.Protocols.SetHTTP1(true)
	if useTLS {
		hs.Protocols.SetHTTP2(true)
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	} else {
		hs.Protocols.SetUnencryptedHTTP2(true)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if useTLS {
			_ = hs.ServeTLS(ln, "", "")
		} else {
			_ = hs.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		_ = hs.Close()
		<-done
		ln.closeAll() // Server.Close leaves HTTP/2 connections to their serve loops
		// which end on their own, some after net/http2's 1 s GOAWAY timer.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			buf := make([]byte, 1<<20)
			if !bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("http2serverConn).serve")) {
				return
			}
		}
	})
	return ln.Addr().String()
}

// trackingListener remembers the connections it accepted.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

// `hotpath serve` with its default flags (gRPC sharing the port: portmux in
// front of net/http) and with --tls-self-signed, and both without gRPC
// (--grpc=false --h2c, --grpc=false --tls-self-signed: portmux with
// HTTPOnly in front), passes h2spec as well as plain net/http does: no case
// fails that does not fail on plain net/http too. The configurations run in
// parallel to keep CI short.
func TestH2Spec(t *testing.T) {
	for _, tc := range []struct {
		name   string
		useTLS bool
		args   []string
	}{
		{"h2c", false, nil},
		{"tls", true, []string{"--tls-self-signed"}},
		{"h2c-no-grpc", false, []string{"--grpc=false", "--h2c"}},
		{"tls-no-grpc", true, []string{"--grpc=false", "--tls-self-signed"}},
	} {
		useTLS, args := tc.useTLS, tc.args
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startServe(t, nil, args...)
			start := time.Now()
			got := h2specFailures(t, p.addr, useTLS)
			t.Logf("hotpath serve %v: h2spec took %v", args, time.Since(start).Round(time.Millisecond))
			base := h2specFailures(t, plainNetHTTP(t, useTLS), useTLS)
			for _, f := range got {
				if !slices.Contains(base, f) && !slices.Contains(netHTTPDeviations, f) {
					t.Errorf("fails on hotpath serve, but neither on plain net/http in this run nor among net/http's known deviations: %s", f)
				}
			}
			p.alive(t)
		})
	}
}
