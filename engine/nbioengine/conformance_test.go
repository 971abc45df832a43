package nbioengine

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/internal/conformance"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nbio's package-level timer goroutine lives for the process.
		goleak.IgnoreAnyFunction("github.com/lesismal/nbio/timer.(*Timer).loop"),
	)
}

// newEngine is the suite's factory: the engine with the seed's endpoints.
func newEngine(cfg server.Config) (server.Engine, error) {
	s, err := New(cfg)
	if err == nil {
		service.Register(s)
	}
	return s, err
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newEngine,
		conformance.Except("echo without content type sends none",
			"nbhttp adds Content-Type: text/plain to every response with a body that has none"),
	)
}
