package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

// basePrefix starts the name of a row run from Config.Base: the row
// "base-hotpath-nethttp" is "hotpath-nethttp" started from the base binary.
const basePrefix = "base-"

// hotpathEngines are the engines of the servers scenario's hotpath rows
// ("hotpath-<engine>"), each of which gets a base row with Config.Base.
var hotpathEngines = []string{"nethttp", "fasthttp", "nbio"}

// ServerNames returns the names of the servers scenario's rows, in the
// order it runs them: the values Config.Servers accepts. The base rows
// (Config.Base) are not among them: each follows its pair.
func ServerNames() []string {
	names := make([]string, len(serverContenders))
	for i, c := range serverContenders {
		names[i] = c.Name
	}
	return names
}

// BaseBuild is the second hotpath binary of an A/B run (Config.Base), as
// report.json's settings.base records it.
type BaseBuild struct {
	// Path is the binary's absolute path.
	Path string `json:"path"`
	// Version is the first line `PATH version` printed.
	Version string `json:"version"`
}

// serverRows returns the servers scenario's contenders for c: those
// Config.Servers selects (all when empty) in serverContenders' order, each
// hotpath-<engine> row followed by its base row when Config.Base is set.
func (l *lab) serverRows() []contender {
	var out []contender
	for _, c := range serverContenders {
		if len(l.cfg.Servers) > 0 && !slices.Contains(l.cfg.Servers, c.Name) {
			continue
		}
		out = append(out, c)
		if e, ok := strings.CutPrefix(c.Name, "hotpath-"); ok && l.cfg.Base != "" && slices.Contains(hotpathEngines, e) {
			out = append(out, baseContender(e))
		}
	}
	return out
}

// baseContender is `hotpath serve --engine engine` started from
// Config.Base with the arguments of the hotpath-<engine> row.
func baseContender(engine string) contender {
	return contender{
		Name:   basePrefix + "hotpath-" + engine,
		Server: "hotpath serve --engine " + engine + " (defaults, then settings.base_args) from the --base binary (settings.base)",
		Spec: func(l *lab) launchSpec {
			spec := serveFrom(basePrefix+"hotpath-"+engine, func(l *lab) string { return l.cfg.Base }, engine)(l)
			argv := spec.Argv
			spec.Argv = func(port, admin int) []string { return append(argv(port, admin), l.cfg.BaseArgs...) }
			return spec
		},
	}
}

// versionLine matches the line `hotpath version` has printed since the
// first commit: "hotpath VERSION (revision …)".
var versionLine = regexp.MustCompile(`^hotpath \S+ \(revision .*\)$`)

// baseTimeout bounds `Base version`.
const baseTimeout = 10 * time.Second

// probeBase checks that path is an executable file that prints a hotpath
// version line, and returns that line. Errors name --base.
func probeBase(path string) (string, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return "", fmt.Errorf("--base %s: %w", path, unwrapPath(err))
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("--base %s: not a regular file", path)
	case fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("--base %s: not executable", path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), baseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Dir = os.TempDir() // an old binary may write into its working directory
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := firstLine(errb.String())
		if ctx.Err() != nil {
			msg = fmt.Sprintf("no answer within %v", baseTimeout)
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("--base %s: `version` failed: %s", path, msg)
	}
	line, ok := parseVersion(out.String())
	if !ok {
		return "", fmt.Errorf("--base %s: not a hotpath binary: `version` printed %q, want \"hotpath VERSION (revision …)\"", path, line)
	}
	return line, nil
}

// parseVersion returns the first line of `hotpath version`'s output,
// trimmed, and whether it is a hotpath version line.
func parseVersion(out string) (string, bool) {
	line := firstLine(out)
	return line, versionLine.MatchString(line)
}

// firstLine returns s's first line, without surrounding space.
func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return strings.TrimSpace(sc.Text())
	}
	return ""
}

// unwrapPath drops the *PathError's operation and path: the message names
// the path already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
