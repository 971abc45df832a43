package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hotpath-dev/hotpath/report"
)

func newBenchMergeCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "merge FILE.json FILE.json...",
		Short: "Combine results of several generators (bench -o json) into exact percentiles",
		Long: `merge reads hotpath.bench/v1 results written by 'hotpath bench -o json' on several
machines at the same time against one target, and prints their combination: HDR
histograms merge losslessly, so the percentiles are those of every request; counts,
bytes and req/s are summed.`,
		Example: `  hotpath bench merge gen1.json gen2.json
  hotpath bench merge -o json gen*.json > all.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return UsageErrorf("--output %q: want text or json", output)
			}
			rs := make([]*report.Result, 0, len(args))
			for _, name := range args {
				b, err := os.ReadFile(name)
				if err != nil {
					return asUsage(err)
				}
				r, err := report.ReadJSON(name, b)
				if err != nil {
					return asUsage(err)
				}
				rs = append(rs, r)
			}
			m, err := report.Merge(rs...)
			if err != nil {
				return asUsage(fmt.Errorf("merge: %w", err))
			}
			return writeResult(cmd.OutOrStdout(), m, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
