package hostile

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The cross-talk case: crossClients clients, each on its own connection,
// POST crossRounds bodies of crossBody bytes to /echo at the same time,
// every body a pattern of its client and round.
const (
	crossClients = 8
	crossRounds  = 4
	crossBody    = 128 << 10
)

// crossPayload is client c's body of round r: its own bytes throughout,
// so a piece of another's body anywhere in an echo shows.
func crossPayload(c, r int) []byte {
	unit := []byte(fmt.Sprintf("<client %02d round %02d>", c, r))
	return bytes.Repeat(unit, crossBody/len(unit)+1)[:crossBody]
}

// TestGapNoCrossTalk: concurrent large echoes over separate connections
// each get back exactly their own bytes, over HTTP/1.1 on every engine and
// TLS, and over HTTP/2 through portmux (h2c with gRPC on the port, TLS h2
// with and without gRPC), where connections share portmux's buffers and
// net/http's HTTP/2 pools; serve's own conformance suite checks HTTP/1.1
// in process only.
func TestGapNoCrossTalk(t *testing.T) {
	type port struct {
		e  gapEngine
		h2 bool
	}
	ports := []port{}
	for _, e := range http1Engines {
		ports = append(ports, port{e: e})
	}
	ports = append(ports, port{e: tlsEngines[0]}, port{e: gapEngine{name: "nethttp-h2c"}, h2: true},
		port{e: tlsEngines[0], h2: true}, port{e: tlsEngines[1], h2: true})
	for _, pt := range ports {
		name := pt.e.name + map[bool]string{false: " http1", true: " h2"}[pt.h2]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := pt.e.start(t)
			base := "http://" + p.addr
			if pt.e.tls {
				base = "https://" + p.addr
			}
			var wg sync.WaitGroup
			errs := make(chan error, crossClients*crossRounds)
			for c := range crossClients {
				var rt http.RoundTripper
				switch {
				case pt.h2 && pt.e.tls:
					rt = &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
				case pt.h2:
					rt = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
						var d net.Dialer
						return d.DialContext(ctx, network, addr)
					}}
				default:
					rt = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}, MaxConnsPerHost: 1}
				}
				hc := &http.Client{Transport: rt, Timeout: 20 * time.Second}
				wg.Go(func() {
					defer hc.CloseIdleConnections()
					for r := range crossRounds {
						want := crossPayload(c, r)
						res, err := hc.Post(base+"/echo", "application/octet-stream", bytes.NewReader(want))
						if err != nil {
							errs <- fmt.Errorf("client %d round %d: %w", c, r, err)
							return
						}
						got, err := io.ReadAll(res.Body)
						res.Body.Close()
						if err != nil || res.StatusCode != 200 {
							errs <- fmt.Errorf("client %d round %d: %d, %v", c, r, res.StatusCode, err)
							return
						}
						if pt.h2 != (res.ProtoMajor == 2) {
							errs <- fmt.Errorf("client %d round %d: answered over HTTP/%d", c, r, res.ProtoMajor)
							return
						}
						if !bytes.Equal(got, want) {
							i := 0
							for i < min(len(got), len(want)) && got[i] == want[i] {
								i++
							}
							errs <- fmt.Errorf("client %d round %d: echo of %d bytes differs from the %d sent at byte %d: %q",
								c, r, len(got), len(want), i, clip(got[i:min(len(got), i+40)]))
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}
