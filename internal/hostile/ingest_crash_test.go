package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/filelog"
)

// TestIngestCrash is issue 13's crash test: a `hotpath serve --ingest-sink
// file:DIR` process takes concurrent POST /ingest from 8 workers (distinct
// bodies of varying sizes) and is SIGKILLed mid-stream. Afterwards every
// event that got a 202 is in the log at its offset exactly as sent, the
// offsets are contiguous from 0 and no record is corrupt; a server
// restarted on the same directory recovers (cutting off a torn tail),
// continues the offsets, and still holds every acknowledged event.
func TestIngestCrash(t *testing.T) {
	for _, engine := range []string{"nethttp", "fasthttp", "nbio"} {
		t.Run(engine, func(t *testing.T) { ingestCrash(t, engine) })
	}
}

func ingestCrash(t *testing.T, engine string) {
	dir := t.TempDir()
	args := []string{"--engine", engine, "--ingest-sink", "file:" + dir}
	p := startServe(t, nil, args...)

	const workers = 8
	var (
		mu    sync.Mutex
		acked = map[int64][]byte{} // offset → body that got a 202 for it
		n     atomic.Int64
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			defer c.CloseIdleConnections()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Distinct and of varying size (32 B to ~4 KiB), so records
				// straddle write boundaries and a torn tail is likely.
				body := fmt.Appendf(nil, "%s-w%d-e%d-", engine, w, i)
				body = append(body, bytes.Repeat([]byte{byte('a' + (w+i)%26)}, (i*397+w*131)%4096)...)
				resp, err := c.Post("http://"+p.addr+"/ingest", "application/octet-stream", bytes.NewReader(body))
				if err != nil {
					select {
					case <-stop:
						return // killed: connections fail
					default:
						time.Sleep(5 * time.Millisecond)
						continue
					}
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					continue // 503 (queue full) is allowed: not stored, not counted
				}
				var pos ingest.Position
				if err := json.Unmarshal(b, &pos); err != nil {
					t.Errorf("202 body %q: %v", b, err)
					continue
				}
				mu.Lock()
				if old, dup := acked[pos.Offset]; dup {
					t.Errorf("offset %d acknowledged twice (%.20q and %.20q)", pos.Offset, old, body)
				}
				acked[pos.Offset] = body
				mu.Unlock()
				n.Add(1)
			}
		}()
	}
	// Kill mid-stream: once a few hundred events are acknowledged (or after
	// a generous bound on a slow machine), while all workers are sending.
	deadline := time.Now().Add(20 * time.Second)
	for n.Load() < 400 && time.Now().Before(deadline) {
		p.alive(t)
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-p.done
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatalf("no event acknowledged before the kill; output:\n%s", p.stderr.String())
	}

	records := checkLog(t, dir, acked, "after SIGKILL")
	t.Logf("%s: %d events acknowledged, %d records in the log after SIGKILL", engine, len(acked), records)

	// Restart on the same directory: recovery, then the offsets go on.
	p2 := startServe(t, nil, args...)
	resp, err := http.Post("http://"+p2.addr+"/ingest", "text/plain", strings.NewReader("after restart"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pos ingest.Position
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &pos) != nil {
		t.Fatalf("POST after restart: %d %q", resp.StatusCode, b)
	}
	if pos.Offset != records {
		t.Errorf("first offset after restart %d, want %d (right after the last complete record)", pos.Offset, records)
	}
	acked[pos.Offset] = []byte("after restart")
	if err := p2.stop(t); err != nil {
		t.Errorf("serve after restart: SIGTERM exit %v; output:\n%s", err, p2.stderr.String())
	}
	checkLog(t, dir, acked, "after restart")
	p2.noPanic(t)
}

// checkLog reads the log in dir and checks it against acked: contiguous
// offsets from 0, every acknowledged event at its offset byte for byte, no
// corrupt segment. It returns the number of records.
func checkLog(t *testing.T, dir string, acked map[int64][]byte, when string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var next int64
	found := 0
	err := filelog.ReadDir(ctx, dir, 0, func(p ingest.Position, v []byte) error {
		if p.Offset != next {
			return fmt.Errorf("offset %d after %d: not contiguous", p.Offset, next-1)
		}
		next++
		if want, ok := acked[p.Offset]; ok {
			found++
			if !bytes.Equal(v, want) {
				return fmt.Errorf("offset %d holds %.40q, acknowledged for %.40q", p.Offset, v, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: reading the log: %v", when, err)
	}
	if found != len(acked) {
		for off := range acked {
			if off >= next {
				t.Errorf("%s: acknowledged offset %d is not in the log (it ends at %d)", when, off, next)
			}
		}
		t.Fatalf("%s: %d of %d acknowledged events in the log", when, found, len(acked))
	}
	st, err := filelog.Stats(dir)
	if err != nil {
		t.Fatalf("%s: stats: %v", when, err)
	}
	if st.Records != next {
		t.Errorf("%s: stats count %d records, reading found %d", when, st.Records, next)
	}
	return next
}

// TestIngestSIGTERM: requests in flight when SIGTERM arrives are answered
// 202 (and stored) or 503 (not stored): the drain flushes the queue, and
// no event is stored without its request being answered. Each request uses
// a fresh connection. A request can still fail without an answer when its
// connection was never served: refused after the listener closed, or reset
// while it waited in the kernel's accept queue when the listener closed
// (seen on fasthttp and nbio); such an event must not be in the log, since
// the server never read it.
func TestIngestSIGTERM(t *testing.T) {
	for _, engine := range []string{"nethttp", "fasthttp", "nbio"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			p := startServe(t, nil, "--engine", engine, "--ingest-sink", "file:"+dir, "--drain-delay", "200ms")
			var (
				mu                sync.Mutex
				acked             = map[int64][]byte{}
				refused, answered atomic.Int64
				lost              [][]byte // bodies of requests without an answer
				lostErr           string
				wg                sync.WaitGroup
			)
			stop := make(chan struct{})
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						body := fmt.Appendf(nil, "%s-w%d-e%d", engine, w, i)
						resp, err := c.Post("http://"+p.addr+"/ingest", "text/plain", bytes.NewReader(body))
						if err != nil {
							if isDialError(err) {
								refused.Add(1)
								time.Sleep(5 * time.Millisecond)
								continue
							}
							mu.Lock()
							lost = append(lost, body)
							lostErr = err.Error()
							mu.Unlock()
							continue
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						answered.Add(1)
						switch resp.StatusCode {
						case http.StatusAccepted:
							var pos ingest.Position
							if err := json.Unmarshal(b, &pos); err != nil {
								t.Errorf("202 body %q: %v", b, err)
								continue
							}
							mu.Lock()
							acked[pos.Offset] = body
							mu.Unlock()
						case http.StatusServiceUnavailable:
							if resp.Header.Get("Retry-After") == "" {
								t.Errorf("503 without Retry-After")
							}
						default:
							t.Errorf("status %d %q", resp.StatusCode, b)
						}
					}
				}()
			}
			for answered.Load() < 200 {
				p.alive(t)
				time.Sleep(5 * time.Millisecond)
			}
			if err := p.stop(t); err != nil { // SIGTERM, waits for the exit
				t.Errorf("exit after SIGTERM: %v; output:\n%s", err, p.stderr.String())
			}
			// Let the workers see the closed port, then stop them.
			for start := refused.Load(); refused.Load() < start+8; {
				time.Sleep(5 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			checkLog(t, dir, acked, "after SIGTERM")
			stored := map[string]bool{}
			err := filelog.ReadDir(context.Background(), dir, 0, func(_ ingest.Position, v []byte) error {
				stored[string(v)] = true
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range lost {
				if stored[string(b)] {
					t.Errorf("%q is stored but its request got no answer (%s)", b, lostErr)
				}
			}
			t.Logf("%s: %d answered, %d acknowledged, %d unanswered and not stored (e.g. %s)", engine, answered.Load(), len(acked), len(lost), lostErr)
		})
	}
}

// isDialError reports whether err is a failure to connect (the request was
// never sent).
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
