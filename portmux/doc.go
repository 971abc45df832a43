// Package portmux serves gRPC and other HTTP on one port: it splits a
// listener into a gRPC listener, to hand to grpc-go's own Server.Serve (its
// transport is much cheaper than grpc.Server.ServeHTTP), and an HTTP listener
// for net/http. It classifies each connection once, at its start, by
// peeking (after terminating TLS when configured) at the HTTP/2 preface and
// the first HEADERS frame's content-type; the peeked bytes are replayed, so
// the chosen server sees the connection from its first byte.
package portmux
