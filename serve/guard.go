package serve

import (
	"errors"
	"log/slog"
	"net"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/portmux"
	"github.com/hotpath-dev/hotpath/server"
)

// servesH2 reports whether the net/http engine on its own port would serve
// HTTP/2 for c: over TLS (ALPN h2) or h2c. It reads the flags only; the
// certificate is loaded (or made) once, by guardedNetHTTP.
func servesH2(c server.Config) bool {
	return c.TLSCert != "" || c.TLSSelfSigned || c.H2C
}

// guardedNetHTTP is the net/http engine on a port without gRPC that serves
// HTTP/2 (TLS or --h2c). The port still goes through portmux, every
// connection routed to HTTP (portmux.Options.HTTPOnly), for two things
// net/http's own HTTP/2 server does not do: the flood guard (SETTINGS,
// PING, rapid-reset, CONTINUATION and empty-frame floods cut off with
// GOAWAY ENHANCE_YOUR_CALM; without it internal/hostile's floods ran their
// full 2 s at one core of server CPU, 2026-12-07) and one TLS termination
// for both kinds of port. The same connection cap covers the connections
// being classified (splitPublic). b, when not nil, is the batcher POST /ingest goes to.
func guardedNetHTTP(cfg server.Config, log *slog.Logger, opts []server.Option, b *ingest.Batcher) (server.Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	eff := cfg.WithDefaults()
	tlsCfg, err := server.TLSConfig(eff)
	if err != nil {
		return nil, err
	}
	grpcL, httpL, err := splitPublic(eff, log, portmux.Options{TLSConfig: tlsCfg, HTTPOnly: true})
	if err != nil {
		return nil, err
	}
	grpcL.Close() // HTTPOnly: it never yields a connection; closing httpL then closes ln
	s, err := server.New(cfg, append(opts, server.WithSharedPort(server.SharedPort{Listener: httpL, TLS: tlsCfg, ConnContext: portmux.ConnContext}))...)
	if err != nil {
		httpL.Close()
		return nil, err
	}
	registerNetHTTP(s, b)
	return s, nil
}

// logFloods is portmux's OnError for serve: a connection cut off for an
// HTTP/2 frame flood is logged at Warn; the other refusals (peek timeouts,
// failed handshakes, cleartext on a TLS port) are routine and not.
func logFloods(log *slog.Logger) func(net.Addr, error) {
	return func(remote net.Addr, err error) {
		if errors.Is(err, portmux.ErrFlood) {
			log.Warn("HTTP/2 connection cut off", "remote", remote.String(), "err", err.Error())
		}
	}
}
