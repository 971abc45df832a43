package loadgen

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoServerSide keeps the load generator a client: a program that
// imports loadgen must not link hotpath's server side (its middleware,
// Prometheus metrics, the gRPC server and health service, the engines). It
// asks the go tool for loadgen's transitive imports, as a user's build sees
// them.
func TestLinksNoServerSide(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list loadgen's imports: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const mod = "github.com/hotpath-dev/hotpath/"
	banned := []struct{ pkg, why string }{
		{"rpc", "the gRPC server: middleware, Prometheus, health; the status table is rpc/httpstatus"},
		{"middleware", "server policy, with Prometheus"},
		{"server", "the net/http server runtime"},
		{"service", "the seed's routes"},
		{"portmux", "server-side connection split"},
		{"engine/", "the fasthttp and nbio engines"},
		{"internal/cli", "the command tree"},
		{"github.com/prometheus/", "metrics exposition, server side only"},
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			p := b.pkg
			if !strings.HasPrefix(p, "github.com/") {
				p = mod + p
			}
			if dep == p || strings.HasSuffix(p, "/") && strings.HasPrefix(dep, p) {
				t.Errorf("loadgen imports %s (%s)", dep, b.why)
			}
		}
	}
}
