package nbioengine

import (
	"testing"

	"github.com/hotpath-dev/hotpath/internal/hostile"
)

// TestHostileHTTP1 runs the engine-level hostile-client suite (smuggling and
// malformed requests, limits, slow clients, flood) on nbio.
func TestHostileHTTP1(t *testing.T) {
	hostile.RunHTTP1(t, newEngine)
}
