// Package server runs the hotpath service on a hardened net/http server: a
// public listener with production limits and timeouts behind the default
// middleware chain, a separate admin listener (pprof and Prometheus metrics),
// TLS with ALPN h2, h2c, and a graceful shutdown that drains before it stops.
//
// Config is engine-agnostic: other engines take the same Config and reuse
// NewRegistry, NewAdmin and service.Readiness, so every engine exposes the
// same admin surface and shutdown sequence. Library users call New, mount
// their own handlers with Handle and call Run.
package server
