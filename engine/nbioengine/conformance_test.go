package nbioengine

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/internal/conformance"
	"github.com/hotpath-dev/hotpath/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nbio's package-level timer goroutine lives for the process.
		goleak.IgnoreAnyFunction("github.com/lesismal/nbio/timer.(*Timer).loop"),
	)
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(cfg server.Config) (conformance.Engine, error) { return New(cfg) },
		conformance.Except("echo without content type sends none",
			"nbhttp adds Content-Type: text/plain to every response with a body that has none"),
	)
}
