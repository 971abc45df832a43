package hostile

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers of the gap_*_test.go cases: attacks on `hotpath serve` that the
// engine-level RunHTTP1 and the older process-level tests did not cover:
// slow readers of pipelined responses and pipelining floods (pipeline),
// Expect: 100-continue without a body (expect), TLS handshake slowloris
// (tls), idle keep-alive memory (idle), header amplification and
// request-ID injection (headers), requests hidden in bodies and chunk
// extensions (smuggle), protocol switching past portmux (switch),
// cross-talk between connections (crosstalk), rate-limit spoofing
// (ratelimit), SIGTERM under hostile clients (shutdown), and HTTP/2 stream
// exhaustion, header bombs, WINDOW_UPDATE abuse and zero windows on the
// HTTP side (h2, h2window). Each starts its own serve processes.

// gapEngine is one way to run serve's public port.
type gapEngine struct {
	name string
	args []string
	tls  bool // the port speaks TLS (--tls-self-signed)
}

// http1Engines are the engines whose HTTP/1.1 port every gap case attacks:
// the default (net/http with gRPC on the port, behind portmux), fasthttp
// (gRPC on the port too) and nbio.
var http1Engines = []gapEngine{
	{name: "nethttp"},
	{name: "fasthttp", args: []string{"--engine", "fasthttp"}},
	{name: "nbio", args: []string{"--engine", "nbio"}},
}

// tlsEngines are the TLS ports (net/http only: fasthttp and nbio refuse
// --tls-self-signed at start-up): portmux terminating TLS with gRPC on the
// port, and net/http's own TLS listener without gRPC.
var tlsEngines = []gapEngine{
	{name: "nethttp-tls", args: []string{"--tls-self-signed"}, tls: true},
	{name: "nethttp-tls-no-grpc", args: []string{"--tls-self-signed", "--grpc=false"}, tls: true},
}

// start runs serve for e with extra flags.
func (e gapEngine) start(t *testing.T, extra ...string) *proc {
	t.Helper()
	return startServe(t, nil, append(append([]string{}, e.args...), extra...)...)
}

// dialRaw opens a connection to p's public port that speaks HTTP/1.1 (TLS
// with ALPN http/1.1 when useTLS), closed when t ends.
func dialRaw(t *testing.T, addr string, useTLS bool) net.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// client returns an HTTP client for p's public port (HTTPS trusting the
// self-signed certificate when useTLS) and its base URL; its idle
// connections are closed when t ends.
func client(t *testing.T, p *proc, useTLS bool) (*http.Client, string) {
	tr := &http.Transport{TLSClientConfig: insecureTLS(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	base := "http://" + p.addr
	if useTLS {
		base = "https://" + p.addr
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}, base
}

// goroutineTotalRe finds the total of the admin listener's goroutine
// profile (debug=1).
var goroutineTotalRe = regexp.MustCompile(`goroutine profile: total (\d+)`)

// goroutines returns serve's goroutine count from its admin listener's
// pprof endpoint.
func (p *proc) goroutines(t *testing.T) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get("http://" + p.admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("admin goroutine profile: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		t.Fatalf("admin goroutine profile: %v", err)
	}
	m := goroutineTotalRe.FindSubmatch(b)
	if m == nil {
		t.Fatalf("admin goroutine profile: %d, no total in %q", res.StatusCode, clip(b))
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// settleWithin is how long serve may take to be back at its baseline
// goroutines and descriptors: nbio keeps a worker goroutine per request
// that ran at once until its pool retires idle workers (every 10 s,
// engine/nbioengine/workers.go), plus room for a loaded machine.
const settleWithin = 15 * time.Second

// settleServe polls serve's goroutines and descriptors until both are
// within slack of the baselines (or settleWithin passes) and returns an
// error naming what stayed up.
func (p *proc) settleServe(t *testing.T, baseG, baseFD, slack int) error {
	t.Helper()
	return p.settle(t, baseG, baseFD, slack, true)
}

// settleConns is settleServe for e: on nbio it waits for the descriptors
// only (each connection is one; they show the connections are gone), as
// nbio's pooled workers outlive them by up to 10 s by design and waiting
// that out would cost this package's time budget.
func (e gapEngine) settleConns(t *testing.T, p *proc, baseG, baseFD, slack int) error {
	t.Helper()
	return p.settle(t, baseG, baseFD, slack, e.name != "nbio")
}

func (p *proc) settle(t *testing.T, baseG, baseFD, slack int, goroutines bool) error {
	t.Helper()
	deadline := time.Now().Add(settleWithin)
	for {
		g, fd := baseG, p.fds(t)
		if goroutines {
			g = p.goroutines(t)
		}
		if g <= baseG+slack && fd <= baseFD+slack {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serve has %d goroutines (baseline %d) and %d descriptors (baseline %d): not back within %d after %v",
				g, baseG, fd, baseFD, slack, settleWithin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closedTLS is closedErr for a connection that may be TLS: a TLS peer that
// closes without close_notify ends the read with io.ErrUnexpectedEOF,
// which is a close too.
func closedTLS(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return closedErr(err)
}

// waitClosedTLS is waitClosed for a connection that may be TLS.
func waitClosedTLS(c net.Conn, d time.Duration) ([]byte, error) {
	got, err := waitClosed(c, c, d)
	if err != nil {
		err = closedTLS(err)
	}
	return got, err
}

// statusLine reads the next status line from br (within d), skipping
// nothing: a 100 Continue is returned as it is.
func statusLine(c net.Conn, br *bufio.Reader, d time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	line, err := br.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// statusOf returns the status code of a status line ("HTTP/1.1 431 ..."):
// its second field when that is three digits, else 0.
func statusOf(line string) int {
	f := strings.Fields(line)
	if len(f) < 2 || len(f[1]) != 3 {
		return 0
	}
	n := 0
	for _, c := range []byte(f[1]) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// dialSmallWindowMaybeTLS is dialSmallWindow, with a TLS handshake (ALPN
// http/1.1) on top when useTLS.
func dialSmallWindowMaybeTLS(t *testing.T, addr string, useTLS bool) net.Conn {
	t.Helper()
	c := dialSmallWindow(t, addr)
	if !useTLS {
		return c
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	_ = tc.SetDeadline(time.Time{})
	return tc
}
