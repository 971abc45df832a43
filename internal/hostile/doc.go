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
//     low RLIMIT_NOFILE, random bytes, SIGTERM under load. The gap_*
//     files add, on every engine and the TLS ports: pipelining floods and
//     slow readers, header and request-target amplification, request-ID
//     injection, Expect: 100-continue without a body, TLS handshake
//     slowloris, thousands of idle keep-alive connections, requests hidden
//     in bodies and chunk-extension amplification, protocol-switch
//     attempts, HTTP/2 stream exhaustion, HPACK bombs and window abuse,
//     cross-talk between concurrent clients, rate-limit evasion (spoofed
//     forwarding headers, native gRPC), SIGTERM with hostile clients
//     connected.
//
// Every case talks to 127.0.0.1 only and is bounded in time and in the
// connections it opens.
package hostile
