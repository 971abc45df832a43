// Package gwcompare measures the candidate HTTP/JSON transcoders side by side
// (hotpath's thin protojson gateway, grpc-gateway in process, vanguard over
// grpc.Server.ServeHTTP), in process, for docs/grpc.md. It is a separate
// module so that its two extra dependencies stay out of hotpath's go.mod.
// Run: cd rpc/internal/gwcompare && go test -bench . -benchmem -count 6
package gwcompare
