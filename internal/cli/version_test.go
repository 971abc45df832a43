package cli

import (
	"bytes"
	"regexp"
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	t.Parallel()
	stamp := func(main string, kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/hotpath-dev/hotpath", Version: main}}
		for i := 0; i+1 < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	tests := []struct {
		name    string
		version string
		bi      *debug.BuildInfo
		want    string
	}{
		{"go build in a clean checkout", "dev", stamp("(devel)", "vcs.revision", "abc123", "vcs.modified", "false"),
			"hotpath dev (revision abc123, go1.26.8 linux/amd64)"},
		{"uncommitted changes are marked", "dev", stamp("(devel)", "vcs.revision", "abc123", "vcs.modified", "true"),
			"hotpath dev (revision abc123+dirty, go1.26.8 linux/amd64)"},
		{"go install module@version reports that version", "dev", stamp("v1.2.3"),
			"hotpath v1.2.3 (revision unknown: built without VCS stamping, go1.26.8 linux/amd64)"},
		{"a link-time version wins over the module's", "v9.9.9", stamp("v1.2.3", "vcs.revision", "abc123"),
			"hotpath v9.9.9 (revision abc123, go1.26.8 linux/amd64)"},
		{"go run: no stamp, said so", "dev", stamp("(devel)"),
			"hotpath dev (revision unknown: built without VCS stamping, go1.26.8 linux/amd64)"},
		{"no build info at all", "dev", nil,
			"hotpath dev (revision unknown: built without VCS stamping, go1.26.8 linux/amd64)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := versionLine(tt.version, tt.bi, "go1.26.8", "linux/amd64"); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"version"}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !regexp.MustCompile(`^hotpath \S+ \(revision .+, go1\.\d+\S* \w+/\w+\)\n$`).MatchString(out.String()) {
		t.Errorf("version output %q", out.String())
	}
	if code := Main([]string{"version", "extra"}, &out, &errb); code != ExitUsage {
		t.Errorf("version with an argument: exit %d, want %d", code, ExitUsage)
	}
}
