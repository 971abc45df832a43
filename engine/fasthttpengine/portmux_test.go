package fasthttpengine

import (
	"net"
	"testing"

	"github.com/hotpath-dev/hotpath/internal/conformance"
	"github.com/hotpath-dev/hotpath/internal/connlimit"
	"github.com/hotpath-dev/hotpath/portmux"
	"github.com/hotpath-dev/hotpath/server"
)

// The whole suite again with the engine on the HTTP side of a port split by
// portmux, as `hotpath serve --engine fasthttp` runs it with gRPC on: the
// disconnect watcher must still reach the socket through portmux and the
// outer connection cap, and the timeouts must still hold.
func TestConformanceBehindPortmux(t *testing.T) {
	conformance.Run(t, func(cfg server.Config) (server.Engine, error) {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, err
		}
		eff := cfg.WithDefaults()
		grpcL, httpL := portmux.Split(connlimit.Cap(ln, eff.MaxConnections),
			portmux.Options{HTTP1Only: true, PeekTimeout: eff.ReadHeaderTimeout})
		grpcL.Close() // no gRPC server here: such connections are closed
		e, err := New(cfg, server.WithListener(httpL))
		if err != nil {
			httpL.Close()
			return nil, err
		}
		RegisterService(e)
		return e, nil
	})
}
