package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/hotpath-dev/hotpath/portmux"
)

// SharedPort describes a public listener shared with another protocol by a
// connection splitter (package portmux splits gRPC from HTTP): the splitter
// accepts, terminates TLS when configured, and hands the HTTP connections to
// the server through Listener.
type SharedPort struct {
	// Listener yields the HTTP connections. The server closes it at shutdown.
	Listener net.Listener
	// TLS is the configuration the splitter terminated TLS with, or nil for
	// cleartext. The server does not wrap Listener in TLS again; it serves
	// HTTP/2 on the decrypted connections (and h2c when Config.H2C is set).
	// The server never modifies it.
	TLS *tls.Config
	// ConnContext, if not nil, becomes http.Server.ConnContext: the hook
	// that records the TLS state of decrypted connections (net/http leaves
	// r.TLS nil for HTTP/2 on them). With portmux.ConnContext, the server
	// sets such requests' r.TLS from it before the middleware chain, so
	// handlers see HTTPS as on a TLS listener.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// GRPC, if not nil, serves the gRPC requests that reach the HTTP side:
	// HTTP/2 requests whose content-type is gRPC's (portmux.IsGRPC) go to it
	// directly, before the middleware chain (gRPC has its own interceptors),
	// e.g. grpc.Server.ServeHTTP. portmux hands an HTTP/2 connection to HTTP
	// when the client waits for the server before its first request, so
	// gRPC calls can arrive here too.
	GRPC http.Handler
}

// handler puts p.GRPC in front of h and, when the splitter terminated
// TLS, sets r.TLS of the requests net/http did not see as TLS (HTTP/2 on a
// decrypted connection, any request on a wrapped one).
func (p *SharedPort) handler(h http.Handler) http.Handler {
	if p == nil || (p.GRPC == nil && p.TLS == nil) {
		return h
	}
	g, decrypted := p.GRPC, p.TLS != nil
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if decrypted && r.TLS == nil { // a cleartext port (the default) skips the context lookup
			r.TLS = portmux.TLSStateFromContext(r.Context())
		}
		if g != nil && r.ProtoMajor == 2 && portmux.IsGRPC(r.Header.Get("Content-Type")) {
			g.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// WithSharedPort serves public HTTP on p.Listener instead of binding
// Config.Addr; see SharedPort. Config's TLS fields are then ignored: the
// splitter built p.TLS from them with TLSConfig.
func WithSharedPort(p SharedPort) Option {
	return func(o *options) { o.shared = &p }
}

// TLSConfig returns the public listener's TLS configuration for c (nil when
// c asks for no TLS), as New builds it: TLS ≥ 1.2, ALPN h2 and http/1.1,
// session resumption on. Errors wrap ErrInvalidConfig.
func TLSConfig(c Config) (*tls.Config, error) { return tlsConfig(c) }
