package hostile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The SIGTERM-under-load case: an open loop of drainRate requests a second
// for drainLoad, SIGTERM after drainSignalAt, with --drain-delay
// drainDelay, so the listener closes while the load still runs.
const (
	drainRate      = 2000
	drainLoad      = 2500 * time.Millisecond
	drainSignalAt  = time.Second
	drainDelay     = "1s"
	drainMaxActive = 256 // requests in flight at most; a due request beyond is counted as not sent
)

// drainTally counts what the requests of TestSIGTERMUnderLoad met.
type drainTally struct {
	mu        sync.Mutex
	sent      int
	notSent   int // due while drainMaxActive were in flight (the client's limit, not the server's)
	ok        int // 200 with a whole body
	ready503  int // /readyz answering 503: the drain
	shed503   int // 503 with Retry-After: --max-inflight shedding (documented)
	refused   int // connect refused: the listener had closed
	dropped   int // connected, then closed without a byte, after the listener closed (see drainGet)
	bad       []string
	truncated []string // failed after the response had started
	otherErr  []string // failed before any response byte, not at connect, before the listener closed
}

func (d *drainTally) add(f func(d *drainTally)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

// TestSIGTERMUnderLoad: SIGTERM in the middle of ~2,000 req/s of GET /time
// (and /readyz) from keep-alive and fresh connections. Every request that
// got a response got a 200, or a 503 that the drain (/readyz) or shedding
// (Retry-After) documents; none was cut off after its response started;
// none failed other than by a refused connect after the listener closed;
// and serve exits 0. The load version of internal/cli's one-request
// TestServeProcessSIGTERM.
func TestSIGTERMUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"nethttp shared port", nil},
		{"fasthttp shared port", []string{"--engine", "fasthttp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startServe(t, nil, append([]string{"--drain-delay", drainDelay}, tc.args...)...)
			keep := &http.Transport{MaxConnsPerHost: 8, MaxIdleConnsPerHost: 8}
			fresh := &http.Transport{DisableKeepAlives: true}
			defer keep.CloseIdleConnections()
			var d drainTally
			var wg sync.WaitGroup
			active := make(chan struct{}, drainMaxActive)
			start := time.Now()
			// closeAt is the earliest the listener may close (SIGTERM +
			// drain delay), in Unix nanoseconds; 0 until signalled. Each
			// request reads it when it fails, not when it is sent: one sent
			// before SIGTERM may wait past the close for one of the keep-alive
			// transport's connections, and meet the closed port.
			var closeAt atomic.Int64
			delay, _ := time.ParseDuration(drainDelay)
			signalled := false
			for i := 0; ; {
				el := time.Since(start)
				if el >= drainLoad {
					break
				}
				if !signalled && el >= drainSignalAt {
					if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
					signalled = true
					closeAt.Store(time.Now().Add(delay).UnixNano())
				}
				// Open loop: every request due by now goes out, whatever
				// the earlier ones are doing.
				for due := int(el.Seconds() * drainRate); i < due; i++ {
					select {
					case active <- struct{}{}:
					default:
						d.add(func(d *drainTally) { d.notSent++ })
						continue
					}
					tr, path := keep, "/time"
					if i%4 == 3 {
						tr = fresh
					}
					if i%10 == 9 {
						path = "/readyz"
					}
					wg.Add(1)
					go func() {
						defer func() { <-active; wg.Done() }()
						drainGet(tr, "http://"+p.addr+path, &closeAt, &d)
					}()
				}
				time.Sleep(time.Millisecond)
			}
			wg.Wait()
			keep.CloseIdleConnections()
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				t.Fatalf("serve did not exit within 30 s of SIGTERM; output:\n%s", p.stderr.String())
			}
			if p.err != nil {
				t.Errorf("exit after SIGTERM under load: %v, want 0; output:\n%s", p.err, p.stderr.String())
			}
			p.noPanic(t)
			t.Logf("sent %d (not sent, client at %d in flight: %d): 200 %d, /readyz 503 %d, shed 503 %d, refused at connect %d, reset unanswered at the listener's close %d, bad %d, truncated %d, other errors %d",
				d.sent, drainMaxActive, d.notSent, d.ok, d.ready503, d.shed503, d.refused, d.dropped, len(d.bad), len(d.truncated), len(d.otherErr))
			for what, list := range map[string][]string{"bad responses": d.bad, "truncated responses": d.truncated, "failed requests": d.otherErr} {
				if len(list) > 0 {
					t.Errorf("%d %s, e.g. %s", len(list), what, strings.Join(list[:min(5, len(list))], "; "))
				}
			}
			if d.ok == 0 || d.ready503 == 0 {
				t.Errorf("the load saw %d 200s and %d draining /readyz: SIGTERM did not land in the middle of it", d.ok, d.ready503)
			}
		})
	}
}

// drainGet does one GET and tallies what it met. closeAt holds when the
// listener may have closed at the earliest, in Unix nanoseconds (zero: not
// yet signalled), read when the request ends: from
// then on a connection that the kernel had completed but serve had not yet
// accepted is reset by the listener's close (Linux), and its request fails
// before any response byte, like a refused connect; before then such a
// failure is a defect.
func drainGet(tr http.RoundTripper, url string, closeAt *atomic.Int64, d *drainTally) {
	var started bool // a response byte arrived
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { mu.Lock(); started = true; mu.Unlock() }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	d.add(func(d *drainTally) { d.sent++ })
	sentAt := time.Now()
	resp, err := tr.RoundTrip(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	mu.Lock()
	got := started
	mu.Unlock()
	readyz := strings.HasSuffix(url, "/readyz")
	now := time.Now()
	closed := closeAt.Load()
	afterClose := closed != 0 && now.UnixNano() > closed
	d.add(func(d *drainTally) {
		switch {
		case err != nil && got:
			d.truncated = append(d.truncated, fmt.Sprintf("%s: %v", url, err))
		case err != nil && errors.Is(err, syscall.ECONNREFUSED):
			d.refused++
		case err != nil && afterClose:
			d.dropped++
		case err != nil:
			at := "not signalled"
			if closed != 0 {
				at = time.Unix(0, closed).Format("15:04:05.000")
			}
			d.otherErr = append(d.otherErr, fmt.Sprintf("%s: %v (sent %s, failed %s, listener closes at the earliest %s)",
				url, err, sentAt.Format("15:04:05.000"), now.Format("15:04:05.000"), at))
		case resp.StatusCode == 200 && (readyz || isMillis(body)):
			d.ok++
		case resp.StatusCode == 200:
			d.truncated = append(d.truncated, fmt.Sprintf("%s: 200 with body %q", url, body))
		case resp.StatusCode == 503 && readyz:
			d.ready503++
		case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
			d.shed503++
		default:
			d.bad = append(d.bad, fmt.Sprintf("%s: %d %q", url, resp.StatusCode, body))
		}
	})
}

// isMillis reports whether b is /time's body: Unix milliseconds, maybe
// followed by a newline.
func isMillis(b []byte) bool {
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return err == nil && n > 1e12
}
