package bare

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

var textPlain = []string{"text/plain; charset=utf-8"}

// timeHandler writes the time the way the seed's handler does, minus any
// framework: one small buffer, no formatting.
func timeHandler(w http.ResponseWriter, _ *http.Request) {
	var buf [24]byte
	w.Header()["Content-Type"] = textPlain
	_, _ = w.Write(strconv.AppendInt(buf[:0], time.Now().UnixMilli(), 10)) // client gone: nothing to do
}

// newNetHTTP returns the net/http server: net/http's defaults (no timeouts,
// 1 MiB of headers) or, if hardened, hotpath's default timeouts and header
// limit.
func newNetHTTP(hardened bool) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /time", timeHandler)
	srv := &http.Server{Handler: mux}
	if hardened {
		srv.ReadHeaderTimeout = readHeaderTimeout
		srv.ReadTimeout = readTimeout
		srv.WriteTimeout = writeTimeout
		srv.IdleTimeout = idleTimeout
		srv.MaxHeaderBytes = maxHeaderBytes
	}
	return srv
}

// serveNetHTTP serves until ctx is done, then shuts down gracefully (5 s at
// most) and returns once every connection is gone: Shutdown also waits out
// the 500 ms net/http lingers on a connection after a 431.
func serveNetHTTP(ctx context.Context, ln net.Listener, hardened bool) error {
	srv := newNetHTTP(hardened)
	stopped := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(stopped)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	})
	err := srv.Serve(ln)
	if !stop() {
		<-stopped
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
