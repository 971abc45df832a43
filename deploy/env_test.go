package deploy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/internal/cli"
)

// TestManifestEnvIsAcceptedByServe runs `hotpath serve --print-config` with
// the Deployment's environment and checks that the configuration validates
// (exit 0) and that every HOTPATH_* variable is one serve actually reads: a
// misspelt variable would otherwise be ignored silently in production.
func TestManifestEnvIsAcceptedByServe(t *testing.T) {
	_, c := hotpathDeployment(t, loadManifests(t))
	var names []string
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "HOTPATH_") {
			continue
		}
		v := e.Value
		if len(e.ValueFrom) > 0 {
			v = "value-from-a-secret" // secretKeyRef: any non-empty value
		}
		t.Setenv(e.Name, v)
		names = append(names, e.Name)
	}
	if len(names) == 0 {
		t.Fatal("the Deployment sets no HOTPATH_* variables")
	}
	var out, errb bytes.Buffer
	if code := cli.Main(append([]string{"serve", "--print-config"}, c.Args[1:]...), &out, &errb); code != cli.ExitOK {
		t.Fatalf("serve --print-config with the manifest's environment: exit %d: %s", code, errb.String())
	}
	if c.Args[0] != "serve" {
		t.Fatalf("container args %v: want serve", c.Args)
	}
	for _, n := range names {
		if !strings.Contains(out.String(), "# "+n) {
			t.Errorf("%s is set in the Deployment but serve does not read it:\n%s", n, out.String())
		}
	}
}
