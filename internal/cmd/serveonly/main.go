// Command serveonly runs the server package on its defaults, like `hotpath
// serve`, from a binary that links nothing else (no other subcommands, engines
// or gRPC). scripts/serve-cost.sh measures it beside the hotpath binary to
// separate what the server costs from what the rest of the CLI binary costs
// (package initialisation, file-backed RSS, a larger heap for the GC to scan).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("serveonly", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.Addr, "addr", "", "public listen address (default :8080)")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "", "admin listen address (default 127.0.0.1:6060)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s, err := server.New(cfg, server.WithLogger(log))
	if err != nil {
		fmt.Fprintf(os.Stderr, "serveonly: %v\n", err)
		return 2
	}
	service.Register(s)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "serveonly: %v\n", err)
		return 1
	}
	return 0
}
