// Package server runs HTTP handlers on a hardened server: a public listener
// with production limits and timeouts behind the default middleware chain, a
// separate admin listener (pprof and Prometheus metrics), and a graceful
// shutdown that drains before it stops. Its Server is the net/http engine
// (TLS with ALPN h2, h2c); library users call New, mount their handlers
// with Handle (service.Register mounts the seed's endpoints) and call Run.
//
// Runtime is that lifecycle for every engine: an engine (this package's,
// engine/fasthttpengine, engine/nbioengine) contributes a Transport and
// its handler type, and takes the same Config and Options.
package server
