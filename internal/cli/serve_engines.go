package cli

import (
	"context"
	"net"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/engine/nbioengine"
	"github.com/hotpath-dev/hotpath/server"
)

// The engines besides net/http; see docs/engines.md for what each can and
// cannot do.
func init() {
	serveEngines[fasthttpengine.EngineName] = serveFastHTTP
	serveEngines[nbioengine.EngineName] = serveNbio
}

// runner is what both engines offer to the command.
type runner interface {
	Listen() error
	Addr() net.Addr
	AdminAddr() net.Addr
	Run(ctx context.Context) error
}

func serveFastHTTP(ctx context.Context, cfg server.Config, env serveEnv) error {
	s, err := fasthttpengine.New(cfg, fasthttpengine.WithLogger(env.Log), fasthttpengine.WithAccessLogOutput(env.AccessLog))
	if err != nil {
		return err
	}
	return runEngine(ctx, fasthttpengine.EngineName, s, env)
}

func serveNbio(ctx context.Context, cfg server.Config, env serveEnv) error {
	s, err := nbioengine.New(cfg, server.WithLogger(env.Log), server.WithAccessLogOutput(env.AccessLog))
	if err != nil {
		return err
	}
	return runEngine(ctx, nbioengine.EngineName, s, env)
}

// runEngine binds, logs the addresses, serves until ctx ends and logs the
// shutdown, with the same lines as the net/http engine.
func runEngine(ctx context.Context, name string, s runner, env serveEnv) error {
	if err := s.Listen(); err != nil {
		return err
	}
	if a := s.AdminAddr(); a != nil {
		env.Log.Info("admin listening", "addr", a.String())
	}
	env.Log.Info("listening", "addr", s.Addr().String(), "engine", name)
	ctx2, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			env.Log.Info("shutting down", "engine", name)
			cancel()
		case <-ctx2.Done():
		}
	}()
	err := s.Run(ctx2)
	if err == nil {
		env.Log.Info("stopped", "engine", name)
	}
	return err
}
