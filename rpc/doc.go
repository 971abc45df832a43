// Package rpc serves hotpath's gRPC API (TimeService, EchoService, and
// IngestService when the server has an ingest batcher) on grpc-go's own
// transport, with interceptors that behave like the HTTP middleware
// (recovery, request ID, Prometheus metrics, bearer auth, deadlines), gRPC
// health and server reflection. It also transcodes HTTP/JSON requests
// (GET /v1/time, POST /v1/echo and POST /v1/ingest, from the
// google.api.http annotations) in process, through the very same
// interceptor chain, without a second hop.
package rpc
