package deploy

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestManifestEnvIsAcceptedByServe runs `hotpath serve --print-config` (the
// binary the Dockerfile ships) with the Deployment's environment and checks
// that the configuration validates (exit 0) and that every HOTPATH_* variable
// is one serve actually reads: a misspelt variable would otherwise be ignored
// silently in production.
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
	cmd := exec.Command(buildHotpath(t), append([]string{"serve", "--print-config"}, c.Args[1:]...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("serve --print-config with the manifest's environment: %v: %s", err, errb.String())
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
