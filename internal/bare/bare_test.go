package bare

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
)

// TestServers starts every bare HTTP server and checks GET /time answers
// the current Unix milliseconds and another path does not answer 200
// (grpc-go speaks gRPC only: TestGRPCNow).
func TestServers(t *testing.T) {
	for _, name := range Names() {
		if name == "grpc-go" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			addr := start(t, name) // its cleanup stops it and checks serve's nil return
			tr := &http.Transport{}
			defer tr.CloseIdleConnections() // before start's cleanup
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			before := time.Now().UnixMilli()
			res, err := getRetrying(c, "http://"+addr+"/time")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			ms, err := strconv.ParseInt(string(body), 10, 64)
			if res.StatusCode != 200 || err != nil || ms < before || ms > time.Now().UnixMilli() {
				t.Fatalf("GET /time: %d %q, want 200 and the current unix ms", res.StatusCode, body)
			}
			res, err = c.Get("http://" + addr + "/nope")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("GET /nope: %d, want 404", res.StatusCode)
			}
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("apache")
	if err == nil {
		t.Fatal("Lookup(apache) succeeded")
	}
	// The error is the user's list of choices: every server, grpc-go too.
	for _, n := range []string{"nethttp", "nbio", "grpc-go"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("Lookup(apache) error %q does not name %s", err, n)
		}
	}
	if Known("apache") || !Known("nbio") || !Known("grpc-go") {
		t.Fatal("Known disagrees with the table")
	}
}

// TestHardenedMatchesHotpath holds the constants written out in bare.go to
// hotpath's defaults: the hardened baselines are only fair while they agree.
func TestHardenedMatchesHotpath(t *testing.T) {
	h := newNetHTTP(true)
	f := newFastHTTP(true)
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"net/http read-header", h.ReadHeaderTimeout, server.DefaultReadHeaderTimeout},
		{"net/http read", h.ReadTimeout, server.DefaultReadTimeout},
		{"net/http write", h.WriteTimeout, server.DefaultWriteTimeout},
		{"net/http idle", h.IdleTimeout, server.DefaultIdleTimeout},
		{"fasthttp read-header (ReadTimeout)", f.ReadTimeout, server.DefaultReadHeaderTimeout},
		{"fasthttp read (HeaderReceived)", f.HeaderReceived(nil).ReadTimeout, server.DefaultReadTimeout},
		{"fasthttp write", f.WriteTimeout, server.DefaultWriteTimeout},
		{"fasthttp idle", f.IdleTimeout, server.DefaultIdleTimeout},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s timeout %v, want hotpath's %v", tt.name, tt.got, tt.want)
		}
	}
	if h.MaxHeaderBytes != server.DefaultMaxHeaderBytes {
		t.Errorf("net/http MaxHeaderBytes %d, want %d", h.MaxHeaderBytes, server.DefaultMaxHeaderBytes)
	}
	if p := newNetHTTP(false); p.ReadTimeout != 0 || p.WriteTimeout != 0 || p.IdleTimeout != 0 || p.MaxHeaderBytes != 0 {
		t.Error("plain net/http server is not on net/http's defaults")
	}
	if p := newFastHTTP(false); p.ReadTimeout != 0 || p.HeaderReceived != nil || p.WriteTimeout != 0 || p.ReadBufferSize != 0 {
		t.Error("plain fasthttp server is not on fasthttp's defaults")
	}
}

// getRetrying GETs url, retrying refused connections for up to 5 s (nbio
// listens again on the address it was given).
func getRetrying(c *http.Client, url string) (*http.Response, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := c.Get(url)
		if err == nil || time.Now().After(deadline) {
			return res, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
