// Package portmux serves gRPC and other HTTP on one port: it splits a
// listener into a gRPC listener, to hand to grpc-go's own Server.Serve (its
// transport is much cheaper than grpc.Server.ServeHTTP), and an HTTP listener
// for net/http. It classifies each connection once, at its start, by
// peeking (after terminating TLS when configured) at the HTTP/2 preface and
// the first HEADERS frame's content-type; the peeked bytes are replayed, so
// the chosen server sees the connection from its first byte.
//
// An HTTP/2 client that waits for the server before its first request is
// not kept waiting: its connection goes to a fallback server
// (Options.RequestWait), so the HTTP server must serve gRPC requests too
// (IsGRPC tells them apart; grpc.Server.ServeHTTP serves them). Every
// HTTP/2 connection, on either side, is held to a budget of frames that ask
// for no work (Options.Floods): floods of SETTINGS, PING, RST_STREAM (rapid
// reset), empty frames or CONTINUATION are cut off with GOAWAY
// ENHANCE_YOUR_CALM.
package portmux
