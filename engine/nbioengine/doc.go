// Package nbioengine serves the hotpath service on nbio's epoll-based HTTP
// server (github.com/lesismal/nbio/nbhttp), which holds idle keep-alive
// connections without a goroutine or read buffer each: tens of thousands of
// them cost a few megabytes instead of hundreds.
//
// nbhttp speaks net/http's Handler API, so this engine is the net/http
// engine's server (package server: its lifecycle, server.Runtime, and its
// handler: routes, default middleware chain, metrics) on another Transport,
// which adds what nbio lacks or gets wrong: a strict
// HTTP/1.1 framer in front of nbio's lax parser (malformed requests refused
// at once, bodies over the limit refused before they are read; framer.go),
// read-header, read and idle timeouts (one deadline sweep; connstate.go),
// responses always sent with a Content-Length (nbio's chunked writer is
// unsafe; response.go), a per-request context cancelled when the client
// disconnects, a connection cap that queues instead of refusing, and a
// graceful drain (nbio's own Shutdown closes busy connections at once). What
// nbio cannot do is documented in docs/engines.md.
package nbioengine
