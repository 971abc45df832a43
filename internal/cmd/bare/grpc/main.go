// Command grpc serves hotpath.v1.TimeService for the comparisons in
// scripts/grpc-cost.sh. Modes:
//
//	bare     grpc-go's own server and transport, no interceptors: the baseline
//	mux      the same bare server behind portmux on a shared port (gRPC and an
//	         HTTP server answering 404), to price the routing alone
//	hotpath  rpc.New (all interceptors, Prometheus metrics, health,
//	         reflection) behind portmux, with the JSON gateway on the same
//	         port: what `hotpath serve` runs
//	hotpath-noid  the same with rpc.Config.NoRequestIDHeader
//	bare-workers  bare with grpc.NumStreamWorkers(rpc.DefaultStreamWorkers),
//	         the stream workers hotpath's server keeps by default: how much
//	         of the difference between bare and hotpath is that one option
//
// It serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/hotpath-dev/hotpath/portmux"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"github.com/hotpath-dev/hotpath/rpc"
)

type bareTime struct {
	hotpathv1.UnimplementedTimeServiceServer
}

func (bareTime) Now(context.Context, *hotpathv1.NowRequest) (*hotpathv1.NowResponse, error) {
	return &hotpathv1.NowResponse{UnixMs: time.Now().UnixMilli()}, nil
}

// exit is main's exit code, set after deferred work (the profile) is done.
var exit int

func main() {
	defer func() { os.Exit(exit) }()
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	mode := flag.String("mode", "bare", "bare | bare-workers | mux | hotpath | hotpath-noid")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	workers := flag.Int("workers", 0, "stream workers (grpc.NumStreamWorkers): 0 the mode's default (bare, mux: none; bare-workers, hotpath: rpc.DefaultStreamWorkers), -1 none")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bare-grpc: -cpuprofile:", err)
			os.Exit(2)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if err := run(*addr, *mode, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bare-grpc:", err)
		exit = 1
	}
}

func run(addr, mode string, workers int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var (
		gs      *grpc.Server
		handler http.Handler = http.NotFoundHandler()
	)
	switch mode {
	case "bare", "mux", "bare-workers":
		if workers == 0 && mode == "bare-workers" {
			workers = rpc.DefaultStreamWorkers
		}
		gs = grpc.NewServer(grpc.NumStreamWorkers(uint32(max(workers, 0))))
		hotpathv1.RegisterTimeServiceServer(gs, bareTime{})
	case "hotpath", "hotpath-noid":
		s, err := rpc.New(rpc.Config{
			NoRequestIDHeader: mode == "hotpath-noid",
			StreamWorkers:     workers,
			ServerOptions:     []grpc.ServerOption{grpc.Creds(portmux.Credentials())},
		}, prometheus.NewRegistry())
		if err != nil {
			return err
		}
		gs, handler = s.GRPC(), s.Gateway()
	default:
		return fmt.Errorf("-mode %q: want bare, bare-workers, mux, hotpath or hotpath-noid", mode)
	}
	errc := make(chan error, 2)
	var hs *http.Server
	if mode == "bare" || mode == "bare-workers" {
		go func() { errc <- gs.Serve(ln) }()
	} else {
		grpcL, httpL := portmux.Split(ln, portmux.Options{})
		hs = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ConnContext: portmux.ConnContext}
		hs.Protocols = new(http.Protocols)
		hs.Protocols.SetHTTP1(true)
		hs.Protocols.SetUnencryptedHTTP2(true)
		go func() { errc <- gs.Serve(grpcL) }()
		go func() { errc <- hs.Serve(httpL) }()
	}
	fmt.Printf("serving %s mode on %s (pid %d)\n", mode, ln.Addr(), os.Getpid())
	stopStats := printAllocsOn(os.Stdout, syscall.SIGUSR1)
	defer stopStats()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-errc:
		return err
	}
	gs.Stop()
	if hs != nil {
		if err := hs.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// printAllocsOn prints "allocs <mallocs> <bytes>" (cumulative heap
// allocations since start) to w each time sig arrives, so a script can take
// allocations per request over a run. It returns a function that stops it.
func printAllocsOn(w io.Writer, sig os.Signal) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-ch:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				fmt.Fprintf(w, "allocs %d %d\n", ms.Mallocs, ms.TotalAlloc)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done); <-finished }
}
