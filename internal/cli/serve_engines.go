package cli

import (
	"context"

	"github.com/hotpath-dev/hotpath/engine/fasthttpengine"
	"github.com/hotpath-dev/hotpath/engine/nbioengine"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// The engines besides net/http; see docs/engines.md for what each can and
// cannot do. Each is its package's New, the seed's endpoints and the
// runtime's Run (server.Runtime logs and drains for every engine).
func init() {
	serveEngines[fasthttpengine.EngineName] = serveFastHTTP
	serveEngines[nbioengine.EngineName] = serveNbio
}

func serveFastHTTP(ctx context.Context, cfg server.Config, env serveEnv) error {
	s, err := fasthttpengine.New(cfg, server.WithLogger(env.Log), server.WithAccessLogOutput(env.AccessLog))
	if err != nil {
		return err
	}
	fasthttpengine.RegisterService(s)
	return s.Run(ctx)
}

func serveNbio(ctx context.Context, cfg server.Config, env serveEnv) error {
	s, err := nbioengine.New(cfg, server.WithLogger(env.Log), server.WithAccessLogOutput(env.AccessLog))
	if err != nil {
		return err
	}
	service.Register(s)
	return s.Run(ctx)
}
