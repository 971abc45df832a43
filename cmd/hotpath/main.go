// Command hotpath builds, proves and diagnoses high-performance HTTP services.
//
// It is a thin shell over the importable packages of this module; see
// internal/cli for the command tree and `hotpath --help` for usage.
package main

import (
	"os"

	"github.com/hotpath-dev/hotpath/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
