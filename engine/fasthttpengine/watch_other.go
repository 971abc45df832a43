//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package fasthttpengine

import "net"

// watchDisconnect is a no-op where MSG_PEEK on the raw socket is not
// available: request contexts then end only at their deadline, when the
// handler returns, or at a hard stop.
func watchDisconnect(net.Conn, func()) (stop func()) { return func() {} }
