package nbioengine

import (
	"testing"

	"github.com/hotpath-dev/hotpath/internal/conformance"
	"github.com/hotpath-dev/hotpath/internal/hostile"
	"github.com/hotpath-dev/hotpath/server"
)

// TestHostileHTTP1 runs the engine-level hostile-client suite (smuggling and
// malformed requests, limits, slow clients, flood) on nbio.
func TestHostileHTTP1(t *testing.T) {
	hostile.RunHTTP1(t, func(cfg server.Config) (conformance.Engine, error) { return New(cfg) },
		hostile.Except("never-read response",
			"nbio clears a connection's write deadline whenever one write completes, and a response goes out in two (head, then body), so a client that never reads keeps a large response queued until --idle-timeout (docs/engines.md)"),
	)
}
