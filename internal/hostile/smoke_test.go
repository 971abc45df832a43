package hostile

import (
	"net/http"
	"testing"
	"time"
)

// TestServeStartsAndStops is the harness's own check: the default serve
// answers /time and exits 0 on SIGTERM.
func TestServeStartsAndStops(t *testing.T) {
	p := startServe(t, nil)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + p.addr + "/time")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /time: %d", resp.StatusCode)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
