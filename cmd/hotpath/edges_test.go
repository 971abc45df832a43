package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The module's import graph keeps two clean edges (issue 11): the load
// generator is a client that links none of the server side, and the command
// tree is a leaf that only this binary imports. The tests ask the go tool,
// so they see the imports as a user's build does.

const module = "github.com/hotpath-dev/hotpath/"

// goList runs `go list args...` and returns its standard output.
func goList(t *testing.T, args ...string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list the module's imports: %v", err)
	}
	out, err := exec.Command(goTool, append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestLoadgenLinksNoServerSide: a program that imports loadgen must not link
// hotpath's server side (its middleware, Prometheus metrics, the gRPC server
// and health service, the engines). Of hotpath's own packages it may link only
// those listed, each for its reason; a new one is a decision to make here.
func TestLoadgenLinksNoServerSide(t *testing.T) {
	allowed := map[string]string{
		module + "loadgen":          "itself",
		module + "pacer":            "open-loop pacing",
		module + "report":           "the latency histogram and results",
		module + "proto/hotpath/v1": "hotpath's own services resolve without reflection",
		module + "rpc/httpstatus":   "a failed gRPC call is recorded as its HTTP status",
	}
	for _, dep := range strings.Fields(goList(t, "-deps", module+"loadgen")) {
		if _, ok := allowed[dep]; !ok && strings.HasPrefix(dep, module) {
			t.Errorf("loadgen imports %s, which is not one of the hotpath packages a client may link", dep)
		}
		if strings.HasPrefix(dep, "github.com/prometheus/") {
			t.Errorf("loadgen imports %s: metrics exposition is the server's", dep)
		}
	}
}

// TestOnlyMainImportsCLI: no package (nor its tests) but this binary's main
// depends on internal/cli; anything another package needs from it belongs in
// an importable package.
func TestOnlyMainImportsCLI(t *testing.T) {
	const cli, self = module + "internal/cli", module + "cmd/hotpath"
	out := goList(t, "-e", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, module+"...")
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == self || f[0] == cli {
			continue
		}
		for _, imp := range f[1:] {
			if imp == cli {
				t.Errorf("%s imports %s", f[0], cli)
			}
		}
	}
}
