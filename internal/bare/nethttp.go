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

func serveNetHTTP(ctx context.Context, ln net.Listener, hardened bool) error {
	srv := newNetHTTP(hardened)
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
