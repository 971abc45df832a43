//go:build !unix

package connlimit

// noFileLimit: no RLIMIT_NOFILE here.
func noFileLimit() (limit uint64, known bool) { return 0, false }
