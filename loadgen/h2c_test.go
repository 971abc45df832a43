package loadgen

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestH2CRefusedWhenNotSpoken: with --h2c against a server that speaks only
// HTTP/1.1, Run fails at the start like --http2 without ALPN h2 does,
// naming what the server answered, instead of running and counting every
// request as an "other" error (exit 0).
func TestH2CRefusedWhenNotSpoken(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {}) // HTTP/1.1 only
	_, err := Run(context.Background(), Config{URL: srv.URL, H2C: true, Requests: 5, Connections: 1})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "h2c") || !strings.Contains(err.Error(), "HTTP/1.1") {
		t.Fatalf("err = %v, want ErrUnreachable saying the target answered HTTP/1.1 to h2c", err)
	}
}
