// Package bare holds the bare baseline servers `hotpath lab` measures hotpath
// against: GET /time (the current Unix time in milliseconds, text/plain) on
// net/http, fasthttp and nbio with nothing else — no middleware, limits,
// metrics or admin listener — each optionally "hardened" with hotpath's
// default timeouts and header limit; and grpc-go's own server
// (grpc.NewServer() with no options, no interceptors, no health or
// reflection) serving hotpath.v1.TimeService/Now. They are compiled into the
// hotpath binary and started as the hidden `hotpath lab-server NAME` command,
// so a machine with nothing but Go installed can run every Go row of the lab.
package bare

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"time"
)

// hotpath's defaults (server.Default*), written out rather than imported so
// that a bare server shares no code with the server it is the baseline of;
// TestHardenedMatchesHotpath holds them to the server package's values.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 20 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
)

// ServeFunc serves GET /time (grpc-go: TimeService/Now) on ln's address
// until ctx is done, then closes the listener and returns. It returns nil after ctx is done, or the error
// that stopped serving before that. The nbio server closes ln and listens
// on the same address itself (see serveNBIO), so a client may have to retry
// its first connection until the server answers.
type ServeFunc func(ctx context.Context, ln net.Listener) error

// servers maps the names `hotpath lab-server` accepts to their servers.
var servers = map[string]ServeFunc{
	"nethttp":           func(ctx context.Context, ln net.Listener) error { return serveNetHTTP(ctx, ln, false) },
	"nethttp-hardened":  func(ctx context.Context, ln net.Listener) error { return serveNetHTTP(ctx, ln, true) },
	"fasthttp":          func(ctx context.Context, ln net.Listener) error { return serveFastHTTP(ctx, ln, false) },
	"fasthttp-hardened": func(ctx context.Context, ln net.Listener) error { return serveFastHTTP(ctx, ln, true) },
	"nbio":              serveNBIO,
	"grpc-go":           serveGRPC,
}

// Names returns the server names, sorted. The slice is the caller's.
func Names() []string {
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the server called name, or an error naming the known ones.
func Lookup(name string) (ServeFunc, error) {
	f, ok := servers[name]
	if !ok {
		return nil, fmt.Errorf("unknown bare server %q (want one of %v)", name, Names())
	}
	return f, nil
}

// Known reports whether name is a bare server.
func Known(name string) bool { return slices.Contains(Names(), name) }
