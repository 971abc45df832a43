package bare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
)

// serveNBIO serves GET /time with nbio's nbhttp engine on ln's address.
// It closes ln and has nbio listen on the same address through net.Listen,
// as the earlier internal/cmd/bare/nbio did: handed ln itself (a listener made on
// another goroutine) or left to its default listener, nbio v1.6.8 trips the
// race detector in every -race run of TestServers (its Conn and the
// accepted address, written by the accept loop, read by the poller with no
// synchronisation the detector sees); this way it did not in 5 runs.
func serveNBIO(ctx context.Context, ln net.Listener) error {
	logging.SetLevel(logging.LevelNone)
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return fmt.Errorf("nbio: release %s: %w", addr, err)
	}
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{addr},
		Handler: http.HandlerFunc(nbioHandle),
		// nbio refuses connections beyond MaxLoad (default 10,000); the
		// 10k-connection memory test needs head-room above that.
		MaxLoad: 1 << 20,
		Listen:  net.Listen,
	})
	if err := engine.Start(); err != nil {
		return fmt.Errorf("start nbio engine on %s: %w", addr, err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := engine.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown nbio engine: %w", err)
	}
	return nil
}

// nbioHandle answers GET /time; everything else is 404.
func nbioHandle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/time" {
		http.NotFound(w, r)
		return
	}
	var buf [24]byte
	w.Header()["Content-Type"] = textPlain
	_, _ = w.Write(strconv.AppendInt(buf[:0], time.Now().UnixMilli(), 10))
}
