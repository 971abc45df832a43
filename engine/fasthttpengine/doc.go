// Package fasthttpengine serves the hotpath service on fasthttp: the same
// endpoints, limits, middleware, metrics, admin listener and graceful drain as
// the net/http engine (package server), without allocating on the hot path.
// The lifecycle is server.Runtime's; this package adds fasthttp as its
// Transport, a fasthttp.RequestHandler router, and the seed's endpoints as
// fasthttp handlers (RegisterService).
//
// The middleware logic is not rewritten here: the default chain's order and
// its pieces come from the module's internal/policy package (built by
// server.BuildPolicy, as for the net/http engine), and each step is a thin
// adapter over an engine-neutral core there (request IDs, HTTPMetrics,
// Shedder, RateLimiter, CORSPolicy, BearerAuth, AccessLogger). Only this package imports fasthttp, so net/http users never
// compile it. What fasthttp cannot do (HTTP/2, h2c, streaming a 503 before a
// slow handler returns) is documented in docs/engines.md and refused at
// start-up where it is an option.
package fasthttpengine
