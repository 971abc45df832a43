// Package nbioengine serves the hotpath service on nbio's epoll-based HTTP
// server (github.com/lesismal/nbio/nbhttp), which holds idle keep-alive
// connections without a goroutine or read buffer each: tens of thousands of
// them cost a few megabytes instead of hundreds.
//
// nbhttp speaks net/http's Handler API, so this engine runs the net/http
// engine's own handler (package server: routes, default middleware chain,
// metrics) unchanged and adds only what nbio lacks: a per-request context
// cancelled when the client disconnects, HEAD without a body, 431 for
// oversized headers, a connection cap that queues instead of refusing, and a
// graceful drain (nbio's own Shutdown closes busy connections at once). What
// nbio cannot do is documented in docs/engines.md.
package nbioengine
