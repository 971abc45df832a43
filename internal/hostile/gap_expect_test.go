package hostile

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The Expect case: expectConns clients per route send a POST head with
// Expect: 100-continue and Content-Length, then never the body.
const (
	expectConns       = 100
	expectReadTimeout = time.Second
)

// TestGapExpectContinueNoBody: on POST /echo and POST /ingest, clients
// that ask for 100 Continue and never send the body are cut off by
// --read-timeout (the connection closed, the request never answered 2xx
// nor 5xx), cost serve no goroutines or descriptors afterwards, do not
// stall another client, and store nothing: the next real event is the
// log's first (offset 0). Every engine, and TLS.
func TestGapExpectContinueNoBody(t *testing.T) {
	// Mostly waiting on serve's timers (here nbio's idle-worker
	// retirement, settleWithin): in parallel with the other gap tests that
	// are, after this package's sequential tests.
	t.Parallel()
	for _, e := range append(append([]gapEngine{}, http1Engines...), tlsEngines[0]) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := e.start(t, "--read-timeout", expectReadTimeout.String(),
				"--ingest-sink", "file:"+t.TempDir())
			hc, base := client(t, p, e.tls)
			if err := getOK(hc, base+"/time"); err != nil {
				t.Fatal(err)
			}
			hc.CloseIdleConnections()
			baseG, baseFD := p.goroutines(t), p.fds(t)
			for _, path := range []string{"/echo", "/ingest"} {
				head := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
				conns := make([]net.Conn, expectConns)
				for i := range conns {
					conns[i] = dialRaw(t, p.addr, e.tls)
					_ = conns[i].SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := io.WriteString(conns[i], head); err != nil {
						t.Fatalf("%s: connection %d: %v", path, i, err)
					}
				}
				sent := time.Now()
				if err := getOK(hc, base+"/time"); err != nil {
					t.Errorf("%s: another client while %d bodies are awaited: %v", path, expectConns, err)
				}
				hc.CloseIdleConnections()
				statuses := map[string]int{}
				var last time.Duration
				for i, c := range conns {
					got, err := waitClosedTLS(c, time.Until(sent.Add(expectReadTimeout+closeWithin)))
					if err != nil {
						t.Errorf("%s: connection %d still open %v after its head (--read-timeout %v): %v",
							path, i, time.Since(sent).Round(time.Millisecond), expectReadTimeout, err)
					}
					last = max(last, time.Since(sent))
					for _, st := range finalStatuses(got) {
						statuses[st]++
						if st[0] == '2' || st[0] == '5' {
							t.Errorf("%s: connection %d: the body never came, yet: %q", path, i, clip(got))
						}
					}
					c.Close()
				}
				t.Logf("%s: %d heads without their body; final statuses %v; last closed %v after the heads",
					path, expectConns, statuses, last.Round(time.Millisecond))
			}
			settled := time.Now()
			if err := e.settleConns(t, p, baseG, baseFD, 8); err != nil {
				t.Errorf("after the clients: %v", err)
			}
			t.Logf("goroutines and descriptors back within %v", time.Since(settled).Round(time.Millisecond))
			res, err := hc.Post(base+"/ingest", "application/octet-stream", strings.NewReader("real event"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 202 || !bytes.Contains(body, []byte(`"offset":0`)) {
				t.Errorf("the first real event: %d %q; want 202 at offset 0 (nothing stored for the bodies that never came)", res.StatusCode, body)
			}
			p.alive(t)
			p.noPanic(t)
		})
	}
}

// finalStatuses returns the status codes of the responses in raw, other
// than 100 Continue.
func finalStatuses(raw []byte) []string {
	var out []string
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		line, err := br.ReadString('\n')
		if strings.HasPrefix(line, "HTTP/1.1 ") && len(line) >= 12 && line[9:12] != "100" {
			out = append(out, line[9:12])
		}
		if err != nil {
			return out
		}
	}
}
