//go:build unix

package connlimit

import "syscall"

// noFileLimit is the soft RLIMIT_NOFILE of the process.
func noFileLimit() (limit uint64, known bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	return uint64(rl.Cur), true
}
