package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hotpath-dev/hotpath/ingest"
)

const (
	topic = "events"
	bound = 5 * time.Second // generous: kfake on a shared 2-core machine
)

func newCluster(t *testing.T, partitions int32) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newSink(t *testing.T, c *kfake.Cluster, opts ...Option) *Sink {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	s, err := New(ctx, c.ListenAddrs(), topic, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func readAll(t *testing.T, s *Sink, from int64) map[ingest.Position]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	got := map[ingest.Position]string{}
	if err := s.Read(ctx, from, func(p ingest.Position, v []byte) error {
		if _, dup := got[p]; dup {
			return fmt.Errorf("position %+v read twice", p)
		}
		got[p] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func events(prefix string, n int) [][]byte {
	es := make([][]byte, n)
	for i := range es {
		es[i] = fmt.Appendf(nil, "%s-%d", prefix, i)
	}
	return es
}

func appendOK(t *testing.T, s *Sink, es [][]byte, want map[ingest.Position]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	pos, err := s.Append(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != len(es) {
		t.Fatalf("%d positions for %d events", len(pos), len(es))
	}
	for i, p := range pos {
		if _, dup := want[p]; dup {
			t.Fatalf("position %+v given twice", p)
		}
		want[p] = string(es[i])
	}
}

// The positions Append returns are where a consumer finds each event.
func TestAppendReadBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	s := newSink(t, c)
	want := map[ingest.Position]string{}
	appendOK(t, s, events("a", 16), want)
	appendOK(t, s, events("b", 5), want)
	appendOK(t, s, events("c", 1), want)
	got := readAll(t, s, 0)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read back %v, want %v", got, want)
	}
	// From an offset: only records at or past it, in every partition.
	const from = 3
	tail := readAll(t, s, from)
	n := 0
	for p, v := range want {
		if p.Offset >= from {
			n++
			if tail[p] != v {
				t.Errorf("Read(from=%d) at %+v = %q, want %q", from, p, tail[p], v)
			}
		}
	}
	if len(tail) != n {
		t.Errorf("Read(from=%d) returned %d records, want %d", from, len(tail), n)
	}
	if !s.Partitioned() {
		t.Error("Partitioned() = false")
	}
}

// A batch goes to the broker as one produce request (one partition, one
// broker here): ProduceSync lifts the linger once the batch is buffered. The
// test's linger of a second keeps a batch whole however slowly it is
// buffered; only the first batch, before the producer knows the topic's
// partitions, waits it out.
func TestOneRequestPerBatch(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	s := newSink(t, c, func(c *config) { c.linger = time.Second })
	appendOK(t, s, events("first", 16), map[ingest.Position]string{})
	produces := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1})
	const batches = 20
	for range batches {
		appendOK(t, s, events("x", 16), map[ingest.Position]string{})
	}
	if got := produces.Hits(); got != batches {
		t.Fatalf("%d produce requests for %d batches, want one each", got, batches)
	}
}

// A broker that holds produce requests without answering: each Append gives
// up when its ctx ends (the idempotent client keeps the records); after
// maxUnanswered such batches Append refuses at once instead of piling up
// more; once the broker answers, the held records are stored (at least
// once) and Append works again.
func TestUnansweredBatchesAreCapped(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	s := newSink(t, c, WithDeliveryTimeout(time.Second))
	want := map[ingest.Position]string{}
	appendOK(t, s, events("before", 4), want)
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false // then handled normally
	})
	held := map[string]bool{}
	for i := range maxUnanswered + 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		es := events(fmt.Sprintf("held%d", i), 2)
		_, err := s.Append(ctx, es)
		cancel()
		switch {
		case i < maxUnanswered:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Append %d while the broker holds requests = %v, want its ctx's error", i, err)
			}
			for _, e := range es {
				held[string(e)] = true
			}
		default:
			if !errors.Is(err, ErrNotAcknowledged) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Append %d with %d batches unanswered = %v, want ErrNotAcknowledged at once", i, maxUnanswered, err)
			}
		}
	}
	close(release)
	deadline := time.Now().Add(bound)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		pos, err := s.Append(ctx, events("after", 1))
		cancel()
		if err == nil {
			want[pos[0]] = "after-0"
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful Append within %v of the broker answering: %v", bound, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := readAll(t, s, 0)
	for p, v := range want {
		if got[p] != v {
			t.Errorf("acknowledged %q at %+v, topic has %q", v, p, got[p])
		}
	}
	for _, v := range got {
		delete(held, v)
	}
	t.Logf("%d of the unacknowledged events were not stored", len(held))
}

// Read returns fn's error at once, and reads nothing from past the end.
func TestReadStopsAtFnError(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	s := newSink(t, c)
	appendOK(t, s, events("x", 4), map[ingest.Position]string{})
	stop := errors.New("stop")
	calls := 0
	err := s.Read(context.Background(), 0, func(ingest.Position, []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Read = %v after %d calls, want fn's error after 1", err, calls)
	}
	if err := s.Read(context.Background(), -1, nil); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("Read from -1 = %v, want an error", err)
	}
	if err := s.Read(context.Background(), 100, func(ingest.Position, []byte) error {
		t.Error("fn called past the end")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// brokerDown makes the cluster refuse produce and the topic's metadata, as
// a cluster that lost the topic's leaders does.
func brokerDown(c *kfake.Cluster) *kfake.FaultHandle {
	return c.Fault(kfake.Fault{
		Keys:  []kmsg.Key{kmsg.Produce, kmsg.Metadata},
		Topic: topic,
		Err:   kerr.NotEnoughReplicas,
		Count: -1,
	})
}

// A failing cluster makes Append fail within the delivery timeout, and the
// same sink works again once the cluster does.
func TestAppendFailsAndRecovers(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	s := newSink(t, c, WithDeliveryTimeout(time.Second))
	want := map[ingest.Position]string{}
	appendOK(t, s, events("before", 3), want)

	down := brokerDown(c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*bound)
	defer cancel()
	if pos, err := s.Append(ctx, events("during", 3)); err == nil || ctx.Err() != nil {
		t.Fatalf("Append while down = %v, %v; want an error before %v", pos, err, bound)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping succeeded while the topic's metadata fails")
	}
	down.Remove()

	// Recovery: a later Append succeeds (the first ones may still time out
	// while the client refreshes its metadata).
	deadline := time.Now().Add(bound)
	for {
		pos, err := s.Append(ctx, events("after", 3))
		if err == nil {
			for i, p := range pos {
				want[p] = fmt.Sprintf("after-%d", i)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful Append within %v of the cluster's recovery: %v", bound, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after recovery: %v", err)
	}
	if got := readAll(t, s, 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("topic holds %v, want exactly the acknowledged %v", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name  string
		seeds []string
		topic string
		want  string
	}{
		{"no seeds", nil, topic, "no seed brokers"},
		{"no topic", c.ListenAddrs(), "", "empty topic"},
		{"topic that does not exist", c.ListenAddrs(), "nope", `topic "nope"`},
		{"nothing listening", []string{dead}, topic, "reaching brokers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			s, err := New(ctx, tt.seeds, tt.topic)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// The Kafka scenario end to end through the batcher and the HTTP
// handler: events acknowledged = events in the topic; cluster failing → 503
// with Retry-After and readiness false; cluster back → readiness true by
// itself and 202 again.
func TestIngestThroughBatcher(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	s := newSink(t, c, WithDeliveryTimeout(time.Second))
	b, err := ingest.New(s, ingest.Config{BatchSize: 4, BatchWait: time.Millisecond, UnreadyAfter: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("POST /ingest", ingest.Handler(b))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	post := func(body string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/ingest", strings.NewReader(body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0, "", ""
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out), resp.Header.Get("Retry-After")
	}

	acked := map[string]string{} // "partition/offset" → event
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			ev := fmt.Sprintf("ok-%d", i)
			code, body, _ := post(ev)
			if code != http.StatusAccepted {
				t.Errorf("POST %s = %d %q", ev, code, body)
				return
			}
			var p, o int64
			if _, err := fmt.Sscanf(body, "{\"partition\":%d,\"offset\":%d}\n", &p, &o); err != nil {
				t.Errorf("202 body %q: %v", body, err)
				return
			}
			mu.Lock()
			acked[fmt.Sprintf("%d/%d", p, o)] = ev
			mu.Unlock()
		})
	}
	wg.Wait()

	down := brokerDown(c)
	if code, body, ra := post("refused"); code != http.StatusServiceUnavailable || ra != "1" {
		t.Fatalf("POST while down = %d %q Retry-After %q, want 503 with Retry-After 1", code, body, ra)
	}
	waitFor(t, "readiness false while down", func() bool { return !b.Ready() })
	time.Sleep(200 * time.Millisecond) // pings keep failing: still not ready
	if b.Ready() {
		t.Fatal("ready again while the cluster still fails")
	}
	down.Remove()
	waitFor(t, "readiness back without traffic", b.Ready)
	code, body, _ := post("after")
	if code != http.StatusAccepted {
		t.Fatalf("POST after recovery = %d %q", code, body)
	}
	var p, o int64
	if _, err := fmt.Sscanf(body, "{\"partition\":%d,\"offset\":%d}\n", &p, &o); err != nil {
		t.Fatal(err)
	}
	acked[fmt.Sprintf("%d/%d", p, o)] = "after"

	got := map[string]string{}
	for pos, v := range readAll(t, s, 0) {
		got[fmt.Sprintf("%d/%d", pos.Partition, pos.Offset)] = v
	}
	if fmt.Sprint(got) != fmt.Sprint(acked) {
		t.Fatalf("topic holds %v, acknowledged %v", got, acked)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
