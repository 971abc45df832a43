package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyMainImportsCLI keeps internal/cli a leaf of the import graph: the
// command tree is the binary's, and no package (nor its tests) may depend on
// it. Anything another package needs from it belongs in an importable
// package. The go tool lists every package's imports, test imports included.
func TestOnlyMainImportsCLI(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list the module's imports: %v", err)
	}
	const cli = "github.com/hotpath-dev/hotpath/internal/cli"
	self := strings.TrimSuffix(cli, "internal/cli") + "cmd/hotpath"
	out, err := exec.Command(goTool, "list", "-e", "-f",
		`{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`,
		"github.com/hotpath-dev/hotpath/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for line := range strings.Lines(string(out)) {
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
