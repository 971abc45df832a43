package hostile

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/internal/conformance"
)

// The flood case: floodInFlight slow requests fill Config.MaxInFlight,
// then floodExtra more slow requests and floodProbes liveness probes
// arrive at once.
const (
	floodCase     = "max-inflight flood"
	floodInFlight = 4
	floodExtra    = 3 * floodInFlight
	floodProbes   = 10
)

type floodResult struct {
	code       int
	retryAfter string
	err        error
}

func runFlood(t *testing.T, f conformance.Factory, except map[string]string) {
	t.Run(floodCase, func(t *testing.T) {
		skipIfExcepted(t, except, floodCase)
		cfg := parseConfig()
		cfg.MaxInFlight = floodInFlight
		r := startEngine(t, f, cfg)
		tr := &http.Transport{MaxIdleConnsPerHost: floodExtra + floodProbes}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		base := "http://" + r.host

		get := func(path string) floodResult {
			res, err := client.Get(base + path)
			if err != nil {
				return floodResult{err: err}
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return floodResult{code: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), err: err}
		}
		// Held long enough for the flood to land while they run.
		held := make(chan floodResult, floodInFlight)
		for range floodInFlight {
			go func() { held <- get("/delay?ms=2000") }()
		}
		if err := waitInFlight(client, r.admin, floodInFlight); err != nil {
			t.Fatalf("the %d held requests never were in flight: %v", floodInFlight, err)
		}
		var wg sync.WaitGroup
		extra := make([]floodResult, floodExtra)
		probes := make([]floodResult, floodProbes)
		for i := range extra {
			wg.Go(func() { extra[i] = get("/delay?ms=500") })
		}
		for i := range probes {
			wg.Go(func() { probes[i] = get("/healthz") })
		}
		wg.Wait()
		for i, res := range extra {
			if res.err != nil || res.code != 503 || res.retryAfter == "" {
				t.Errorf("request %d over max-inflight: %d, Retry-After %q, %v; want 503 with Retry-After", i+1, res.code, res.retryAfter, res.err)
			}
		}
		for i, res := range probes {
			if res.err != nil || res.code != 200 {
				t.Errorf("/healthz %d during the flood: %d, %v; want 200 (probes are never shed)", i+1, res.code, res.err)
			}
		}
		for i := range floodInFlight {
			if res := <-held; res.err != nil || res.code != 200 {
				t.Errorf("held request %d: %d, %v; want 200", i+1, res.code, res.err)
			}
		}
	})
}
