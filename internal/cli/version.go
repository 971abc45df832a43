package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the hotpath release; overridden at link time with
// -ldflags "-X github.com/hotpath-dev/hotpath/internal/cli.Version=v1.2.3".
// Left at "dev", the module version from the build info is used when there
// is one (go install github.com/hotpath-dev/hotpath/cmd/hotpath@v1.2.3).
var Version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the hotpath version, VCS revision and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionLine(Version, bi, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH))
			return err
		},
	}
}

// versionLine formats `hotpath version`'s output from the link-time version
// and the binary's build info (nil when there is none). The revision comes
// from the VCS stamp (vcs.revision, "+dirty" when vcs.modified), which
// `go build` adds inside a Git checkout; `go run`, `go install pkg@version`
// and -buildvcs=false leave it out, and then it says so instead of
// printing a bare "unknown".
func versionLine(version string, bi *debug.BuildInfo, goVersion, platform string) string {
	rev, dirty := "", false
	if bi != nil {
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	switch {
	case rev == "":
		rev = "unknown: built without VCS stamping"
	case dirty:
		rev += "+dirty"
	}
	return fmt.Sprintf("hotpath %s (revision %s, %s %s)", version, rev, goVersion, platform)
}
