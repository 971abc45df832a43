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

// serveNBIO serves GET /time with nbio's nbhttp engine on ln.
func serveNBIO(ctx context.Context, ln net.Listener) error {
	logging.SetLevel(logging.LevelNone)
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{ln.Addr().String()},
		Handler: http.HandlerFunc(nbioHandle),
		// nbio refuses connections beyond MaxLoad (default 10,000); the
		// 10k-connection memory test needs head-room above that.
		MaxLoad: 1 << 20,
		Listen:  func(string, string) (net.Listener, error) { return ln, nil },
	})
	if err := engine.Start(); err != nil {
		_ = ln.Close()
		return fmt.Errorf("start nbio engine on %s: %w", ln.Addr(), err)
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
