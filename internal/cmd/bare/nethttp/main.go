// Command nethttp is the bare net/http reference server: GET /time with the
// current Unix time in milliseconds (text/plain), on net/http's defaults, with
// no middleware, limits or admin listener. scripts/serve-cost.sh compares
// `hotpath serve` against it to price everything hotpath adds.
//
// -hardened gives the server hotpath's default timeouts and header limit
// (read-header 5 s, read 15 s, write 20 s, idle 2 m, 16 KiB of headers) and
// nothing else: the "hardened net/http" baseline of docs/serve.md, which
// prices hotpath without charging it for hardening every production server
// needs.
//
// -spin adds a busy loop of about the given CPU time to each request: a known
// extra cost, to see how much the measured CPU per request grows for it
// (scripts/serve-cost.sh with SPIN=; docs/serve.md, "Reading the CPU figure").
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"
)

var textPlain = []string{"text/plain; charset=utf-8"}

// timeHandler writes the time the way the seed's handler does, minus any
// framework: one small buffer, no formatting.
func timeHandler(w http.ResponseWriter, _ *http.Request) {
	var buf [24]byte
	w.Header()["Content-Type"] = textPlain
	_, _ = w.Write(strconv.AppendInt(buf[:0], time.Now().UnixMilli(), 10)) // client gone: nothing to do
}

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /time", timeHandler)
	return mux
}

// spinMux is newMux with n iterations of spin before each /time answer.
func spinMux(n int) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /time", func(w http.ResponseWriter, r *http.Request) {
		spin(n)
		timeHandler(w, r)
	})
	return mux
}

var spinSink uint64

// spin runs n steps of a linear congruential generator: pure CPU work the
// compiler cannot remove (the result is stored).
func spin(n int) {
	x := spinSink
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink = x
}

// spinSteps calibrates spin: the number of steps that take about d of CPU
// on this machine (median of 5 timings of 2^22 steps).
func spinSteps(d time.Duration) int {
	const probe = 1 << 22
	var ns []int64
	for range 5 {
		t0 := time.Now()
		spin(probe)
		ns = append(ns, time.Since(t0).Nanoseconds())
	}
	slices.Sort(ns)
	return int(float64(probe) * float64(d.Nanoseconds()) / float64(max(ns[2], 1)))
}

// hotpath's defaults (server.Default*), written out rather than imported so
// that this binary links net/http and nothing else; TestHardenedMatchesHotpath
// holds them to the server package's values.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 20 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
)

// newServer returns the server for addr and h: net/http's defaults (no
// timeouts, 1 MiB of headers) or, if hardened, hotpath's default timeouts and
// header limit.
func newServer(addr string, h http.Handler, hardened bool) *http.Server {
	srv := &http.Server{Addr: addr, Handler: h}
	if hardened {
		srv.ReadHeaderTimeout = readHeaderTimeout
		srv.ReadTimeout = readTimeout
		srv.WriteTimeout = writeTimeout
		srv.IdleTimeout = idleTimeout
		srv.MaxHeaderBytes = maxHeaderBytes
	}
	return srv
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	hardened := flag.Bool("hardened", false, "hotpath's default timeouts and header limit (read-header 5s, read 15s, write 20s, idle 2m, 16 KiB headers)")
	spinFor := flag.Duration("spin", 0, "busy CPU time to add to each request (calibration; 0 = none)")
	flag.Parse()
	mux := newMux()
	if *spinFor > 0 {
		mux = spinMux(spinSteps(*spinFor))
	}
	if err := newServer(*addr, mux, *hardened).ListenAndServe(); err != nil {
		fmt.Fprintf(os.Stderr, "bare-nethttp: %v\n", err)
		os.Exit(1)
	}
}
