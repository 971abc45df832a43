package conformance

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/internal/ingesttest"
	"github.com/hotpath-dev/hotpath/server"
)

// IngestFactory builds an engine with the seed's routes and POST /ingest
// storing into sink through a batcher configured from cfg's Ingest*
// fields (what serve.New does with Options.IngestSink). The suite sets the
// limits each scenario needs; the engine owns sink from then on.
type IngestFactory func(cfg server.Config, sink ingest.Sink) (server.Engine, error)

// Limits of the ingest profile: an event limit below the body limit, so
// both 413s are reachable.
const (
	ingestMaxEvent = 16
	ingestMaxBody  = 64
)

func ingestConfig() server.Config {
	cfg := baseConfig()
	cfg.MaxBodyBytes = ingestMaxBody
	cfg.IngestMaxEventBytes = ingestMaxEvent
	cfg.IngestBatchWait = time.Millisecond
	cfg.AuthRoutes = []string{"/ingest"}
	return cfg
}

// RunIngest is the ingest path's share of the suite: every engine answers
// POST /ingest the same (status, headers, body, limits, auth, metrics,
// back-pressure, readiness, shutdown flush).
func RunIngest(t *testing.T, f IngestFactory) {
	t.Run("requests", func(t *testing.T) { runIngestTable(t, f) })
	t.Run("json format", func(t *testing.T) { runIngestJSON(t, f) })
	t.Run("queue full", func(t *testing.T) { runIngestQueueFull(t, f) })
	t.Run("sink down", func(t *testing.T) { runIngestSinkDown(t, f) })
	t.Run("shutdown flush", func(t *testing.T) { runIngestShutdown(t, f) })
}

// post sends one request and returns status, headers and body.
func post(t *testing.T, method, url, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func runIngestTable(t *testing.T, f IngestFactory) {
	sink := &ingesttest.Sink{}
	r := startIngest(t, f, ingestConfig(), sink)
	jsonCT := "application/json"
	tests := []struct {
		name, method, body string
		hdr                map[string]string
		status             int
		ct, retry, want    string // want: exact body ("" = not checked)
	}{
		{"first event is offset 0", "POST", "hello", bearer, 202, jsonCT, "", `{"offset":0}` + "\n"},
		{"next event is offset 1", "POST", "wörld\x00\xff", bearer, 202, jsonCT, "", `{"offset":1}` + "\n"},
		{"empty event is 400", "POST", "", bearer, 400, jsonCT, "", `{"error":"empty event"}` + "\n"},
		{"over the event limit is 413", "POST", strings.Repeat("e", ingestMaxEvent+1), bearer, 413, jsonCT, "", `{"error":"event too large"}` + "\n"},
		{"at the event limit is stored", "POST", strings.Repeat("e", ingestMaxEvent), bearer, 202, jsonCT, "", `{"offset":2}` + "\n"},
		{"over the body limit is 413 (the chain's)", "POST", strings.Repeat("b", ingestMaxBody+1), bearer, 413, "", "", ""},
		{"GET is 405", "GET", "", bearer, 405, "", "", ""},
		{"no token is 401", "POST", "x", nil, 401, "", "", ""},
		{"wrong token is 401", "POST", "x", map[string]string{"Authorization": "Bearer nope"}, 401, "", "", ""},
	}
	for _, tc := range tests {
		status, h, body := post(t, tc.method, r.url+"/ingest", tc.body, tc.hdr)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%q)", tc.name, status, tc.status, body)
			continue
		}
		if tc.ct != "" && h.Get("Content-Type") != tc.ct {
			t.Errorf("%s: Content-Type %q, want %q", tc.name, h.Get("Content-Type"), tc.ct)
		}
		if tc.want != "" && body != tc.want {
			t.Errorf("%s: body %q, want %q", tc.name, body, tc.want)
		}
		if tc.status == 405 && !strings.Contains(h.Get("Allow"), "POST") {
			t.Errorf("%s: Allow %q lacks POST", tc.name, h.Get("Allow"))
		}
		if h.Get("Retry-After") != "" {
			t.Errorf("%s: Retry-After %q on a %d", tc.name, h.Get("Retry-After"), status)
		}
	}
	got := sink.Stored()
	want := []string{"hello", "wörld\x00\xff", strings.Repeat("e", ingestMaxEvent)}
	if len(got) != len(want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("offset %d: stored %q, want %q (exactly as sent)", i, got[i], want[i])
		}
	}
	// Metrics: the route is labelled as on every engine, and the batcher
	// counts every event once by its result.
	err := poll(3*time.Second, func() error {
		m, err := fetchMetrics(r.admin)
		if err != nil {
			return err
		}
		for _, want := range []string{
			`route="POST /ingest"`,
			`hotpath_ingest_events_total{result="stored"} 3`,
			`hotpath_ingest_events_total{result="too_large"} 1`,
			`hotpath_ingest_events_total{result="empty"} 1`,
		} {
			if !strings.Contains(m, want) {
				return errorf("admin /metrics lacks %s", want)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// With --ingest-format json an event must be one JSON value (else 400 with
// the fixed reason, counted "invalid"), the event limit applies to it as
// sent, and what is stored is the compacted value.
func runIngestJSON(t *testing.T, f IngestFactory) {
	sink := &ingesttest.Sink{}
	cfg := ingestConfig()
	cfg.IngestFormat = "json"
	r := startIngest(t, f, cfg, sink)
	notJSON := `{"error":"event is not valid JSON"}` + "\n"
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"object is stored compacted", `{ "a" : [1, 2] }`, 202, `{"offset":0}` + "\n"},
		{"at the event limit as sent", `{ "k" : "vvvv" }`, 202, `{"offset":1}` + "\n"},
		{"not JSON is 400", "hello", 400, notJSON},
		{"two values are 400", `{"a":1}{}`, 400, notJSON},
		{"truncated is 400", `{"a":`, 400, notJSON},
		{"empty is still 400 empty", "", 400, `{"error":"empty event"}` + "\n"},
		{"over the event limit as sent is 413", `[1, 2, 3, 4, 5, 6]`, 413, `{"error":"event too large"}` + "\n"},
	}
	for _, tc := range tests {
		status, h, body := post(t, "POST", r.url+"/ingest", tc.body, bearer)
		if status != tc.status || body != tc.want {
			t.Errorf("%s: %d %q, want %d %q", tc.name, status, body, tc.status, tc.want)
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		if h.Get("Retry-After") != "" {
			t.Errorf("%s: Retry-After on a %d", tc.name, status)
		}
	}
	got := sink.Stored()
	want := []string{`{"a":[1,2]}`, `{"k":"vvvv"}`}
	if len(got) != len(want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("offset %d: stored %q, want %q (compacted)", i, got[i], want[i])
		}
	}
	err := poll(3*time.Second, func() error {
		m, err := fetchMetrics(r.admin)
		if err != nil {
			return err
		}
		if want := `hotpath_ingest_events_total{result="invalid"} 3`; !strings.Contains(m, want) {
			return errorf("admin /metrics lacks %s", want)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// fetchMetrics reads the admin /metrics page.
func fetchMetrics(admin string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(admin + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// startIngest starts an engine from f; the suite's start does the rest.
func startIngest(t *testing.T, f IngestFactory, cfg server.Config, sink ingest.Sink) *running {
	t.Helper()
	return start(t, func(cfg server.Config) (server.Engine, error) { return f(cfg, sink) }, cfg)
}

// A full queue answers 503 with Retry-After at once; the held event is
// stored once the sink moves again.
func runIngestQueueFull(t *testing.T, f IngestFactory) {
	sink := &ingesttest.Sink{}
	entered := sink.Block()
	cfg := ingestConfig()
	cfg.IngestBatchSize, cfg.IngestQueue = 1, 1
	r := startIngest(t, f, cfg, sink)
	var wg sync.WaitGroup
	wg.Add(1)
	var heldStatus int
	go func() {
		defer wg.Done()
		heldStatus, _, _ = post(t, "POST", r.url+"/ingest", "held", bearer)
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		sink.Release()
		wg.Wait()
		t.Fatal("the first event never reached the sink")
	}
	status, h, body := post(t, "POST", r.url+"/ingest", "more", bearer)
	if status != 503 || h.Get("Retry-After") != "1" || body != `{"error":"ingest queue full, retry later"}`+"\n" {
		t.Errorf("full queue: %d Retry-After %q %q, want 503, 1, queue full", status, h.Get("Retry-After"), body)
	}
	sink.Release()
	wg.Wait()
	if heldStatus != 202 {
		t.Errorf("held event: %d, want 202", heldStatus)
	}
	if got := sink.Stored(); len(got) != 1 || string(got[0]) != "held" {
		t.Errorf("stored %q, want only the held event", got)
	}
}

// A failing sink: 503 with Retry-After, /readyz 503 after
// IngestUnreadyAfter, and both recover by themselves when it heals.
func runIngestSinkDown(t *testing.T, f IngestFactory) {
	sink := &ingesttest.Sink{}
	cfg := ingestConfig()
	cfg.IngestUnreadyAfter = 200 * time.Millisecond
	r := startIngest(t, f, cfg, sink)
	sink.Fail(errors.New("disk full"))
	status, h, body := post(t, "POST", r.url+"/ingest", "lost", bearer)
	if status != 503 || h.Get("Retry-After") != "1" || strings.Contains(body, "disk") {
		t.Errorf("sink down: %d Retry-After %q %q, want 503, 1, no sink error text", status, h.Get("Retry-After"), body)
	}
	readyz := func(want int) func() error {
		return func() error {
			if s, _, _ := post(t, "GET", r.url+"/readyz", "", nil); s != want {
				return errorf("/readyz %d, want %d", s, want)
			}
			return nil
		}
	}
	if err := poll(5*time.Second, readyz(503)); err != nil {
		t.Errorf("after the sink failed for longer than %v: %v", cfg.IngestUnreadyAfter, err)
	}
	sink.Fail(nil)
	// The sink heals: within the batcher's back-off (at most 1 s) an event
	// is tried and stored, and readiness returns.
	if err := poll(5*time.Second, func() error {
		if s, _, _ := post(t, "POST", r.url+"/ingest", "back", bearer); s != 202 {
			return errorf("POST after the sink healed: %d", s)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if err := poll(5*time.Second, readyz(200)); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	if got := sink.Stored(); len(got) != 1 || string(got[0]) != "back" {
		t.Errorf("stored %q, want only the event after recovery", got)
	}
}

// Shutdown: a request in flight when it starts gets 202 once its batch is
// written during the drain; with a sink stuck past the shutdown timeout it
// gets 503 (not stored), never a 202 for nothing and never silence.
func runIngestShutdown(t *testing.T, f IngestFactory) {
	for _, stuck := range []bool{false, true} {
		name := "flushed"
		if stuck {
			name = "sink stuck past the timeout"
		}
		t.Run(name, func(t *testing.T) {
			sink := &ingesttest.Sink{}
			entered := sink.Block()
			cfg := ingestConfig()
			cfg.ShutdownTimeout = 2 * time.Second
			cfg.RequestTimeout = 10 * time.Second // the shutdown, not the request deadline, must answer
			r := startIngest(t, f, cfg, sink)
			res := make(chan int, 1)
			go func() {
				s, _, _ := post(t, "POST", r.url+"/ingest", "in flight", bearer)
				res <- s
			}()
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				sink.Release()
				t.Fatal("the event never reached the sink")
			}
			r.stop() // SIGTERM's part
			if !stuck {
				time.Sleep(100 * time.Millisecond) // the drain is under way
				sink.Release()
			}
			var status int
			select {
			case status = <-res:
			case <-time.After(10 * time.Second):
				sink.Release()
				t.Fatal("no answer within 10 s of shutdown")
			}
			stored := len(sink.Stored())
			switch {
			case !stuck && (status != 202 || stored != 1):
				t.Errorf("flushed at shutdown: %d with %d stored, want 202 and 1", status, stored)
			case stuck && (status != 503 || stored != 0):
				t.Errorf("stuck sink at shutdown: %d with %d stored, want 503 and 0", status, stored)
			}
			sink.Release()
			if err := r.wait(); err != nil {
				t.Errorf("Run: %v", err)
			}
			if !sink.Closed() {
				t.Error("the sink was not closed after Run")
			}
		})
	}
}
