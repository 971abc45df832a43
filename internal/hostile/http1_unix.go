//go:build unix

package hostile

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// dialSmallWindow connects to host with the smallest receive buffer the
// kernel allows, set before the handshake so the advertised window stays
// small: a client that does not read then stalls the server's writes after
// a few KiB instead of after the kernel's autotuned megabytes. It is closed
// when t ends.
func dialSmallWindow(t *testing.T, host string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
