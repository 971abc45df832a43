package portmux

import (
	"context"
	"crypto/tls"
	"net"
)

type tlsStateKey struct{}

// ConnContext is meant for http.Server.ConnContext: it records the TLS state
// of connections portmux terminated (HTTP/2 over TLS reaches net/http as a
// *Conn, so Request.TLS is nil there) and of *tls.Conn ones, for
// TLSStateFromContext. Other connections leave ctx unchanged.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	switch c := c.(type) {
	case *Conn:
		if c.tls != nil {
			return context.WithValue(ctx, tlsStateKey{}, c.tls)
		}
	case *tls.Conn:
		return context.WithValue(ctx, tlsStateKey{}, c)
	}
	return ctx
}

// TLSStateFromContext returns the TLS state recorded by ConnContext, or nil
// for a plaintext connection. Use it where a handler would read Request.TLS.
func TLSStateFromContext(ctx context.Context) *tls.ConnectionState {
	c, _ := ctx.Value(tlsStateKey{}).(*tls.Conn)
	if c == nil {
		return nil
	}
	st := c.ConnectionState()
	return &st
}
