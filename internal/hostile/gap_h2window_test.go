package hostile

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
)

// The HTTP-side zero-window case: h2ZWConns connections that announce a
// stream window of 0 each open h2ZWStreams POST /echo streams of h2ZWBody
// bytes (the gRPC side's row e, on the HTTP side of the port).
const (
	h2ZWConns   = 4
	h2ZWStreams = 100 // --h2-max-concurrent-streams: all a connection may hold
	h2ZWBody    = 60 << 10
	h2ZWTimeout = 2 * time.Second
	h2ZWRSS     = 128 << 20
)

// TestGapH2ZeroWindowManyStreams: 400 echoes stuck behind a 0 window on
// the HTTP side of both HTTP/2 ports hold a bounded amount of serve's
// memory (about their own size, not a buffer each of the server's
// choosing), every stream ends by --write-timeout (plus room) with a reset
// or the connection's GOAWAY, another client is served meanwhile, and
// serve's goroutines and descriptors come back.
func TestGapH2ZeroWindowManyStreams(t *testing.T) {
	// Mostly waiting on serve's timers: in parallel with the other gap
	// tests that are, after this package's sequential tests.
	t.Parallel()
	for _, e := range h2Ports {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t, "--write-timeout", h2ZWTimeout.String())
			hc, base := client(t, p, e.tls)
			if err := getOK(hc, base+"/time"); err != nil {
				t.Fatal(err)
			}
			hc.CloseIdleConnections()
			baseG, baseFD, rss0 := p.goroutines(t), p.fds(t), p.rss(t)
			body := make([]byte, h2ZWBody-5) // SendGRPC adds a 5-byte prefix: /echo echoes it too
			conns := make([]*h2raw.Conn, h2ZWConns)
			ids := make([][]uint32, h2ZWConns)
			start := time.Now()
			for i := range conns {
				o := h2Options(e, 4*h2ZWStreams)
				o.Settings = []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}
				conns[i] = h2raw.Dial(t, p.addr, o)
				conns[i].Await(5*time.Second, "SETTINGS ACK", h2raw.IsSettingsAck)
				for j := range h2ZWStreams {
					id := uint32(2*j + 1)
					if err := conns[i].WriteHeaders(id, false, requestFields(e, "POST", "/echo",
						hpack.HeaderField{Name: "content-type", Value: "application/octet-stream"},
						hpack.HeaderField{Name: "content-length", Value: fmt.Sprint(h2ZWBody)})...); err != nil {
						t.Fatal(err)
					}
					conns[i].SendGRPC(id, uint32(len(body)), body, true)
					ids[i] = append(ids[i], id)
				}
			}
			time.Sleep(h2ZWTimeout / 2)
			grew := p.rss(t) - rss0
			if err := getOK(hc, base+"/time"); err != nil {
				t.Errorf("another client with %d echoes stuck behind a 0 window: %v", h2ZWConns*h2ZWStreams, err)
			}
			hc.CloseIdleConnections()
			ended := 0
			for i, c := range conns {
				got := c.Wait(time.Until(start.Add(h2ZWTimeout+closeWithin+2*time.Second)), ids[i]...)
				ended += len(got)
				if len(got) < len(ids[i]) && c.Err() == nil {
					t.Errorf("connection %d: %d of %d streams stuck behind a 0 window still open %v after they began (--write-timeout %v)",
						i, len(ids[i])-len(got), len(ids[i]), time.Since(start).Round(time.Millisecond), h2ZWTimeout)
				}
				c.Close()
			}
			t.Logf("%d echoes of %d KiB behind a 0 window: RSS +%d MiB; %d streams ended, the rest with their connection",
				h2ZWConns*h2ZWStreams, h2ZWBody>>10, grew>>20, ended)
			if grew > h2ZWRSS {
				t.Errorf("%d echoes of %d KiB behind a 0 window grew RSS by %d MiB; want under %d MiB",
					h2ZWConns*h2ZWStreams, h2ZWBody>>10, grew>>20, h2ZWRSS>>20)
			}
			if err := p.settleServe(t, baseG, baseFD, 8); err != nil {
				t.Errorf("after the streams: %v", err)
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}
