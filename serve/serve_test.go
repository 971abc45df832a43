package serve

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/hotpath-dev/hotpath/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nbio's package-level timer goroutine lives for the process.
		goleak.IgnoreAnyFunction("github.com/lesismal/nbio/timer.(*Timer).loop"),
		// fasthttp's worker-pool cleaner and Date-header refresher (see
		// fasthttpengine's TestMain).
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

// Bad engine choices are configuration errors, and nothing is bound.
func TestNewRefuses(t *testing.T) {
	cfg := server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff}
	for _, o := range []Options{{Engine: "nope"}, {Engine: "nbio", GRPC: true}} {
		if _, err := New(cfg, o); !errors.Is(err, server.ErrInvalidConfig) {
			t.Errorf("New(%+v): %v, want ErrInvalidConfig", o, err)
		}
	}
	if got := Engines(); len(got) != 3 {
		t.Errorf("Engines() = %v", got)
	}
	if got := GRPCEngines(); len(got) != 2 {
		t.Errorf("GRPCEngines() = %v", got)
	}
}
