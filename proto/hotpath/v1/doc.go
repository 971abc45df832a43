// Package hotpathv1 holds the generated Go for hotpath's gRPC API
// (TimeService, EchoService) from proto/hotpath/v1/*.proto. Regenerate it with
// scripts/gen-proto.sh; scripts/check-generated.sh fails when it is stale.
package hotpathv1
