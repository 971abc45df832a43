package portmux

import (
	"errors"
	"log/slog"
	"net"
)

// LogFloods returns an Options.OnError that logs every HTTP/2 connection cut
// off for a frame flood (an error wrapping ErrFlood) at Warn on log, with
// the remote address, and ignores the routine refusals (peek timeouts,
// failed TLS handshakes, cleartext on a TLS port), which any port exposed
// to the internet sees all day. A nil log ignores everything.
func LogFloods(log *slog.Logger) func(remote net.Addr, err error) {
	if log == nil {
		return nil
	}
	return func(remote net.Addr, err error) {
		if errors.Is(err, ErrFlood) {
			log.Warn("HTTP/2 connection cut off", "remote", remote.String(), "err", err.Error())
		}
	}
}
