// Command nbio is a bare nbio (nbhttp) server answering GET /time with the
// current Unix time in milliseconds and nothing else: no middleware, no
// limits, no metrics. It is the baseline the hotpath nbio engine is measured
// against (scripts/engine-cost.sh, scripts/conn-memory.sh).
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
	"strconv"
	"syscall"
	"time"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, serves until SIGINT/SIGTERM and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nbio", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := serve(ctx, *addr, func(a net.Addr) { fmt.Fprintf(stdout, "listening on %s\n", a) })
	if err != nil {
		fmt.Fprintf(stderr, "nbio: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the bare server on addr until ctx is done. ready is called with
// the bound address once the listener is open.
func serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	logging.SetLevel(logging.LevelNone)
	var bound net.Addr
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{addr},
		Handler: http.HandlerFunc(handle),
		// nbio refuses connections beyond MaxLoad (default 10,000); the
		// 10k-connection memory test needs head-room above that.
		MaxLoad: 1 << 20,
		Listen: func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err == nil {
				bound = ln.Addr()
			}
			return ln, err
		},
	})
	if err := engine.Start(); err != nil {
		return fmt.Errorf("start nbio engine on %s: %w", addr, err)
	}
	if ready != nil {
		ready(bound)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := engine.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown nbio engine: %w", err)
	}
	return nil
}

// handle answers GET /time; everything else is 404.
func handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/time" {
		http.NotFound(w, r)
		return
	}
	var buf [24]byte
	b := strconv.AppendInt(buf[:0], time.Now().UnixMilli(), 10)
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	_, _ = w.Write(b)
}
