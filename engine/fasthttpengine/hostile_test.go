package fasthttpengine

import (
	"testing"

	"github.com/hotpath-dev/hotpath/internal/hostile"
)

// TestHostileHTTP1 runs the engine-level HTTP/1.1 hostile-client suite
// against the fasthttp engine. It must not run in parallel: the slowloris
// case counts this process's goroutines and descriptors.
func TestHostileHTTP1(t *testing.T) {
	hostile.RunHTTP1(t, newEngine,
		hostile.Except("bare LF line endings",
			"fasthttp v1.78.0 ends a header block whose lines end in bare LF only once a CRLFCRLF "+
				"arrives (its header scanner, so it frames like CRLF-only peers), so a request made "+
				"only of bare-LF lines waits for more bytes and is refused when --read-header-timeout "+
				"fires, not at once; the engine's handler never sees it, and no option changes it. "+
				"Nothing is served meanwhile; with bytes behind it the engine refuses it with 400 "+
				"(\"bare LF line endings with a request behind\")"),
	)
}
