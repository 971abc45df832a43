package connlimit

import "log/slog"

// FDHeadroom is how many file descriptors a server needs besides its
// capped connections: listeners (public, admin), the runtime's poller,
// log files, gRPC's and the engines' own, and connections queued over a
// shared port's split. CheckNoFile asks for the cap plus this many.
const FDHeadroom = 64

// CheckNoFile compares the process's open-file limit (the soft
// RLIMIT_NOFILE, which the Go runtime raises to the hard limit at start)
// with maxConns + FDHeadroom. When the limit is lower it logs one Warn line
// on log naming both numbers and the remedies (raise `ulimit -n` or
// systemd's LimitNOFILE, or lower --max-connections): with such a limit the
// process runs out of descriptors before the cap is reached, and Accept
// backs off (Listener.Accept) until connections close. It returns the
// limit and whether it is enough; where the limit cannot be read (no
// RLIMIT_NOFILE on the system) it returns 0, true and logs nothing.
func CheckNoFile(log *slog.Logger, maxConns int) (limit uint64, ok bool) {
	limit, known := noFileLimit()
	return limit, checkNoFile(log, maxConns, limit, known)
}

// checkNoFile is CheckNoFile with the limit passed in.
func checkNoFile(log *slog.Logger, maxConns int, limit uint64, known bool) bool {
	if !known || noFileEnough(limit, maxConns) {
		return true
	}
	log.Warn("open-file limit is below --max-connections plus headroom: when it runs out, new connections wait until some close; raise it (ulimit -n, systemd LimitNOFILE) or lower --max-connections",
		"nofile_limit", limit, "max_connections", maxConns, "headroom", FDHeadroom, "needed", uint64(maxConns)+FDHeadroom)
	return false
}

// noFileEnough reports whether an open-file limit covers maxConns
// connections plus FDHeadroom.
func noFileEnough(limit uint64, maxConns int) bool {
	return maxConns < 0 || limit >= uint64(maxConns)+FDHeadroom
}
