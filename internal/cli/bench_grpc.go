package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/hotpath-dev/hotpath/loadgen"
)

// grpcBenchFlags are the gRPC flags of `hotpath bench`:
//
//	hotpath bench --grpc --call hotpath.v1.TimeService/Now -c 4 --streams 16 -d 10s http://127.0.0.1:8080
//	hotpath bench --grpc --call hotpath.v1.EchoService/Echo --body '{"message":"hi"}' https://host:8443
//
// The URL's scheme picks plaintext (http) or TLS (https); --body is the
// request in proto3 JSON; -H headers become metadata; -c connections ×
// --streams concurrent calls; results and --output json as for HTTP.
type grpcBenchFlags struct {
	enabled bool
	call    string
}

// addGRPCBenchFlags defines --grpc and --call on f.
func addGRPCBenchFlags(f *pflag.FlagSet) *grpcBenchFlags {
	g := &grpcBenchFlags{}
	f.BoolVar(&g.enabled, "grpc", false, "gRPC unary load instead of HTTP (needs --call; --body is the request as JSON)")
	f.StringVar(&g.call, "call", "", "gRPC method for --grpc, package.Service/Method (e.g. hotpath.v1.TimeService/Now)")
	return g
}

// apply turns c into a gRPC load test when --grpc is set, resolving the
// method and encoding the request now, so bad input fails before any load.
// changed reports whether the user set a flag. Errors are one line naming
// the flag; they wrap loadgen.ErrConfig (or ErrUnreachable when reflection
// could not reach the target).
func (g *grpcBenchFlags) apply(ctx context.Context, c *loadgen.Config, changed func(string) bool) error {
	if g == nil || !g.enabled {
		if g != nil && g.call != "" {
			return fmt.Errorf("%w: --call needs --grpc", loadgen.ErrConfig)
		}
		return nil
	}
	for _, name := range []string{"http2", "h2c", "disable-keepalive", "method"} {
		if changed(name) {
			return fmt.Errorf("%w: --%s does not apply to --grpc", loadgen.ErrConfig, name)
		}
	}
	if g.call == "" {
		return fmt.Errorf("%w: --grpc needs --call package.Service/Method", loadgen.ErrConfig)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	tr, err := loadgen.NewGRPCTransport(ctx, loadgen.GRPCConfig{
		URL: c.URL, Call: g.call, Request: c.Body, Streams: c.Streams,
		Headers: c.Headers, Insecure: c.Insecure, Timeout: c.Timeout,
	})
	if err != nil {
		return err
	}
	c.Transport = tr
	c.Method = "POST" // recorded only: gRPC calls are HTTP/2 POSTs
	return nil
}
