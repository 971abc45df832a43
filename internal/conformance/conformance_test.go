package conformance

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNetHTTP runs the suite against the reference engine, net/http
// (package server); the other engines run it from their own packages.
func TestNetHTTP(t *testing.T) {
	Run(t, func(cfg server.Config) (server.Engine, error) {
		s, err := server.New(cfg)
		if err == nil {
			service.Register(s)
		}
		return s, err
	})
}
