package cli

import "strings"

// isCobraUsage reports whether err is one of cobra's own argument errors
// (unknown command, wrong number of arguments), which it does not route
// through the flag error function.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "invalid argument", "unknown flag", "unknown shorthand flag", "flag needs an argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
