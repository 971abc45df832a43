package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/kafkasink"
	"github.com/hotpath-dev/hotpath/ingest/sinkuri"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
	"github.com/hotpath-dev/hotpath/server"
)

// bound is generous: a shared 2-core machine under -race.
const bound = 10 * time.Second

// runServe runs New(cfg, o) until the test ends (or stop is called) and
// returns the public base URL and the stop function, which returns Run's
// error.
func runServe(t *testing.T, cfg server.Config, o Options) (string, server.Engine, func() error) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.AdminAddr == "" {
		cfg.AdminAddr = server.AdminOff
	}
	o.Log, o.AccessLog = slog.New(slog.DiscardHandler), io.Discard
	e, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("Run did not return within 30 s")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return "http://" + e.Addr().String(), e, stop
}

var client = &http.Client{Timeout: bound}

// postEvent POSTs one event and returns the status and the decoded body.
func postEvent(t *testing.T, base, event string) (int, ingest.Position, http.Header) {
	t.Helper()
	resp, err := client.Post(base+"/ingest", "application/octet-stream", strings.NewReader(event))
	if err != nil {
		t.Fatalf("POST /ingest: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var pos ingest.Position
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(b, &pos); err != nil {
			t.Fatalf("202 body %q: %v", b, err)
		}
	}
	return resp.StatusCode, pos, resp.Header
}

func readyz(base string) int {
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readSink returns what the sink at uri holds, by position.
func readSink(t *testing.T, uri string) map[ingest.Position]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	got := map[ingest.Position]string{}
	if err := sinkuri.Read(ctx, uri, 0, func(p ingest.Position, v []byte) error {
		got[p] = string(v)
		return nil
	}); err != nil {
		t.Fatalf("reading %s: %v", uri, err)
	}
	return got
}

// The file sink end to end through every door: HTTP on both HTTP engines
// with gRPC, gRPC IngestService and its gateway route; after Run, the
// directory holds exactly the acknowledged events at their offsets, and a
// restart on the same directory continues the offsets.
func TestFileSinkEndToEnd(t *testing.T) {
	dir := t.TempDir()
	uri := "file:" + dir
	want := map[ingest.Position]string{}
	var mu sync.Mutex
	for round, engine := range []string{"nethttp", "fasthttp"} {
		base, e, stop := runServe(t, server.Config{IngestSink: uri}, Options{Engine: engine, GRPC: true})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					ev := fmt.Sprintf("%s-w%d-e%d", engine, w, i)
					status, pos, _ := postEvent(t, base, ev)
					if status != http.StatusAccepted {
						t.Errorf("POST %s: %d", ev, status)
						continue
					}
					mu.Lock()
					if old, dup := want[pos]; dup {
						t.Errorf("offset %d given to %q and %q", pos.Offset, old, ev)
					}
					want[pos] = ev
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		conn, err := grpc.NewClient(e.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		ev := fmt.Sprintf("grpc-%d", round)
		resp, err := hotpathv1.NewIngestServiceClient(conn).Ingest(ctx, &hotpathv1.IngestRequest{Event: []byte(ev)})
		cancel()
		conn.Close()
		if err != nil {
			t.Fatalf("gRPC Ingest: %v", err)
		}
		want[ingest.Position{Offset: resp.GetOffset()}] = ev
		gw, err := client.Post(base+"/v1/ingest", "application/json", strings.NewReader(`{"event":"Z2F0ZXdheQ=="}`))
		if err != nil {
			t.Fatal(err)
		}
		var gresp struct {
			Offset string `json:"offset"`
		}
		err = json.NewDecoder(gw.Body).Decode(&gresp)
		gw.Body.Close()
		if err != nil || gw.StatusCode != http.StatusOK {
			t.Fatalf("POST /v1/ingest: %d %v", gw.StatusCode, err)
		}
		var off int64
		fmt.Sscan(gresp.Offset, &off)
		want[ingest.Position{Offset: off}] = "gateway"
		if err := stop(); err != nil {
			t.Fatalf("Run (%s): %v", engine, err)
		}
	}
	got := readSink(t, uri)
	if len(got) != len(want) || len(want) != 2*(40+2) {
		t.Fatalf("the log holds %d events, %d were acknowledged (want %d)", len(got), len(want), 2*42)
	}
	for p, ev := range want {
		if got[p] != ev {
			t.Errorf("offset %d holds %q, acknowledged for %q", p.Offset, got[p], ev)
		}
	}
	for i := range int64(len(want)) {
		if _, ok := got[ingest.Position{Offset: i}]; !ok {
			t.Errorf("offset %d missing: offsets are not contiguous", i)
		}
	}
}

// A sink that cannot be opened is a configuration error, and nothing stays
// bound or open.
func TestIngestSinkRefused(t *testing.T) {
	dir := t.TempDir()
	held, err := sinkuri.Open(context.Background(), "file:"+dir, sinkuri.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, sink := range []string{"file:" + dir /* locked by held */, "kafka://127.0.0.1:1/events" /* nobody there */} {
		cfg := server.Config{Addr: addr, AdminAddr: server.AdminOff, IngestSink: sink}
		for _, grpcOn := range []bool{false, true} {
			if _, err := New(cfg, Options{GRPC: grpcOn}); !errors.Is(err, server.ErrInvalidConfig) || !strings.Contains(err.Error(), "ingest-sink") {
				t.Errorf("New with %s (grpc %v): %v, want ErrInvalidConfig naming ingest-sink", sink, grpcOn, err)
			}
			if ln, err := net.Listen("tcp", addr); err != nil {
				t.Errorf("after the refusal %s is still bound: %v", addr, err)
			} else {
				ln.Close()
			}
		}
	}
}

// Kafka end to end on franz-go's in-process kfake cluster: acknowledged
// events are exactly the topic's; a cluster that refuses produce gives 503
// with Retry-After and, after --ingest-unready-after, /readyz 503; when it
// answers again both recover by themselves.
func TestKafkaSinkEndToEnd(t *testing.T) {
	const topic = "events"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uri := "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/" + topic
	base, _, stop := runServe(t, server.Config{IngestSink: uri, IngestUnreadyAfter: 300 * time.Millisecond}, Options{Engine: "fasthttp"})
	want := map[ingest.Position]string{}
	post := func(ev string) int {
		status, pos, h := postEvent(t, base, ev)
		switch status {
		case http.StatusAccepted:
			if old, dup := want[pos]; dup {
				t.Errorf("position %+v given to %q and %q", pos, old, ev)
			}
			want[pos] = ev
		case http.StatusServiceUnavailable:
			if h.Get("Retry-After") != "1" {
				t.Errorf("503 without Retry-After: 1")
			}
		}
		return status
	}
	for i := range 20 {
		if s := post(fmt.Sprintf("before-%d", i)); s != http.StatusAccepted {
			t.Fatalf("POST before the outage: %d", s)
		}
	}
	down := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce, kmsg.Metadata}, Topic: topic, Err: kerr.NotEnoughReplicas, Count: -1})
	if s := post("during"); s != http.StatusServiceUnavailable {
		t.Errorf("POST while the cluster refuses produce: %d, want 503", s)
	}
	waitFor(t, "/readyz 503 while the cluster is down", func() bool { return readyz(base) == http.StatusServiceUnavailable })
	down.Remove()
	waitFor(t, "a 202 after the cluster is back", func() bool { return post("after") == http.StatusAccepted })
	waitFor(t, "/readyz 200 after the cluster is back", func() bool { return readyz(base) == http.StatusOK })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := readSink(t, uri)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the topic holds %v,\nacknowledged were %v", got, want)
	}
}

// waitFor polls cond for up to 3 bounds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, 3*bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --kafka-delivery-timeout reaches the Kafka sink serve opens.
func TestKafkaDeliveryTimeoutFlag(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range []time.Duration{0, 1500 * time.Millisecond} {
		eff := server.Config{IngestSink: "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/events", IngestKafkaDeliveryTimeout: d}.WithDefaults()
		sink, err := openSink(eff, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ks, ok := sink.(*kafkasink.Sink)
		if !ok {
			t.Fatalf("openSink gave %T", sink)
		}
		want := d
		if d == 0 {
			want = kafkasink.DefaultDeliveryTimeout
		}
		if got := ks.DeliveryTimeout(); got != want {
			t.Errorf("IngestKafkaDeliveryTimeout %v: the sink waits %v, want %v", d, got, want)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
