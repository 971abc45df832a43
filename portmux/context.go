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
// TLSStateFromContext, also through wrappers that have a NetConn method
// (as tls.Conn has). The state is taken once per connection (the
// handshake is over before portmux hands a connection out), as net/http's
// HTTP/2 server does for Request.TLS. Other connections leave ctx
// unchanged.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	var tc *tls.Conn
	// A few wrappers deep at most: the server may wrap portmux's
	// connections (a connection cap, a counter) and expose them with
	// NetConn, as tls.Conn does.
	for range 4 {
		if w, ok := c.(*Conn); ok {
			tc = w.tls
			break
		}
		if w, ok := c.(*tls.Conn); ok {
			tc = w
			break
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	if tc == nil {
		return ctx
	}
	st := tc.ConnectionState()
	return context.WithValue(ctx, tlsStateKey{}, &st)
}

// TLSStateFromContext returns the TLS state recorded by ConnContext, or nil
// for a plaintext connection. Use it where a handler would read Request.TLS.
// Every request of a connection gets the same value: do not modify it.
func TLSStateFromContext(ctx context.Context) *tls.ConnectionState {
	st, _ := ctx.Value(tlsStateKey{}).(*tls.ConnectionState)
	return st
}
