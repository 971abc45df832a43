package hostile

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/internal/h2raw"
)

// The rate-limit spoofing case: one client sends spoofRequests requests,
// each claiming another origin in every forwarding header, against
// --rate-limit spoofRate --rate-burst spoofBurst.
const (
	spoofRequests = 40
	spoofRate     = 10
	spoofBurst    = 2
)

// TestGapRateLimitHeaderSpoofing: serve trusts no forwarding header unless
// told to, so a client that writes a new X-Forwarded-For, X-Real-IP,
// Forwarded, CF-Connecting-IP and True-Client-IP on every request is still
// one client: it gets at most the burst plus what the rate refilled over
// the run, the rest 429 with Retry-After, on every engine (and TLS), on a
// plain route and on the JSON gateway where the port has one.
func TestGapRateLimitHeaderSpoofing(t *testing.T) {
	// Mostly waiting on serve's timers: in parallel with the other gap
	// tests that are, after this package's sequential tests.
	t.Parallel()
	for _, e := range append(append([]gapEngine{}, http1Engines...), tlsEngines[0]) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t, "--rate-limit", fmt.Sprint(spoofRate), "--rate-burst", fmt.Sprint(spoofBurst))
			hc, base := client(t, p, e.tls)
			paths := []string{"/time"}
			if e.name != "nbio" { // nbio serves no gRPC, so no gateway
				paths = append(paths, "/v1/time")
			}
			for _, path := range paths {
				// A fresh limiter window per path: wait until the bucket
				// is full again.
				time.Sleep(time.Duration(float64(spoofBurst)/spoofRate*float64(time.Second)) + 100*time.Millisecond)
				start := time.Now()
				ok, limited := 0, 0
				for i := range spoofRequests {
					req, _ := http.NewRequest("GET", base+path, nil)
					ip := fmt.Sprintf("198.51.100.%d", i+1)
					req.Header.Set("X-Forwarded-For", ip)
					req.Header.Set("X-Real-IP", ip)
					req.Header.Set("Forwarded", "for="+ip)
					req.Header.Set("CF-Connecting-IP", ip)
					req.Header.Set("True-Client-IP", ip)
					res, err := hc.Do(req)
					if err != nil {
						t.Fatalf("%s request %d: %v", path, i+1, err)
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					switch {
					case res.StatusCode == 200:
						ok++
					case res.StatusCode == 429 && res.Header.Get("Retry-After") != "":
						limited++
					default:
						t.Errorf("%s request %d: %d, Retry-After %q; want 200 or 429 with Retry-After", path, i+1, res.StatusCode, res.Header.Get("Retry-After"))
					}
				}
				elapsed := time.Since(start)
				allowed := spoofBurst + int(math.Ceil(spoofRate*elapsed.Seconds()))
				t.Logf("%s: %d requests with spoofed origins in %v: %d 200, %d 429 (allowed at most %d)",
					path, spoofRequests, elapsed.Round(time.Millisecond), ok, limited, allowed)
				if ok > allowed {
					t.Errorf("%s: %d of %d requests with spoofed forwarding headers got 200; want at most %d (burst %d + %v/s over %v): the headers split one client into many",
						path, ok, spoofRequests, allowed, spoofBurst, spoofRate, elapsed.Round(time.Millisecond))
				}
				if ok == 0 {
					t.Errorf("%s: no request was allowed; want the burst of %d", path, spoofBurst)
				}
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}

// TestGapRateLimitNativeGRPC: --rate-limit holds for native gRPC calls on
// the shared port too (nethttp and fasthttp): a client refused on HTTP
// cannot switch to gRPC on the same port to get around it. Beyond the
// burst and the refill, calls end RESOURCE_EXHAUSTED. (Before 2026-12-07
// all 40 calls succeeded on both engines.)
func TestGapRateLimitNativeGRPC(t *testing.T) {
	for _, e := range []gapEngine{http1Engines[0], http1Engines[1]} {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t, "--rate-limit", fmt.Sprint(spoofRate), "--rate-burst", fmt.Sprint(spoofBurst))
			r := h2raw.Dial(t, p.addr, h2raw.Options{})
			start := time.Now()
			counts := map[int]int{}
			for range spoofRequests {
				counts[call(r, "/hotpath.v1.TimeService/Now")]++
			}
			elapsed := time.Since(start)
			allowed := spoofBurst + int(math.Ceil(spoofRate*elapsed.Seconds()))
			t.Logf("%d native gRPC calls in %v: grpc-status counts %v (allowed at most %d OK)", spoofRequests, elapsed.Round(time.Millisecond), counts, allowed)
			if counts[0] > allowed || counts[0] == 0 {
				t.Errorf("%d of %d native gRPC calls OK under --rate-limit %v --rate-burst %d; want 1 to %d", counts[0], spoofRequests, spoofRate, spoofBurst, allowed)
			}
			if counts[0]+counts[8] != spoofRequests {
				t.Errorf("grpc-status counts %v; want only OK and RESOURCE_EXHAUSTED (8)", counts)
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}
