package fasthttpengine

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/internal/conformance"
	"github.com/hotpath-dev/hotpath/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's worker-pool cleaner sleeps MaxIdleWorkerDuration (10 s)
		// before it sees Stop, and its Date-header refresher lives for the
		// process; neither belongs to a request or a connection.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newEngine)
}

// newEngine is the suites' factory: the engine with the seed's endpoints.
func newEngine(cfg server.Config) (server.Engine, error) {
	s, err := New(cfg)
	if err == nil {
		RegisterService(s)
	}
	return s, err
}
