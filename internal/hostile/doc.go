// Package hostile is hotpath's hostile-client suite: the attacks and broken
// clients a public server meets (request smuggling, slowloris, floods, file
// descriptor exhaustion, memory amplification, HTTP/2 and gRPC abuse), each
// written as a test that fails on the defect it guards against.
//
// Two levels:
//   - Engine level: RunHTTP1 runs the HTTP/1.1 cases against any engine
//     built by a conformance.Factory; each engine's tests call it, so every
//     engine meets the same clients.
//   - Process level: this package's own tests build the real `hotpath`
//     binary and attack `hotpath serve` with its default flags (and the
//     engine flags): HTTP/2 and gRPC abuse, h2spec, fd exhaustion under a
//     low RLIMIT_NOFILE, random bytes, SIGTERM under load.
//
// Every case talks to 127.0.0.1 only and is bounded in time and in the
// connections it opens.
package hostile
