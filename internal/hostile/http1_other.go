//go:build !unix

package hostile

import (
	"net"
	"testing"
)

// dialSmallWindow connects to host; without setsockopt the receive buffer
// keeps the system's default. It is closed when t ends.
func dialSmallWindow(t *testing.T, host string) net.Conn { return dial(t, host) }
